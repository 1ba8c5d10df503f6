/**
 * The parsed form of a herdtools7 `PPC` litmus test.
 *
 * Registers are named as in the file (`r1`); locations by their symbol (`x`). Register values in
 * the initial state are either integers or the address of a location (`0:r2=x`).
 */

/** A value in the initial state or a condition: an integer or a location's address. */
export type LitmusValue = { kind: 'int'; value: number } | { kind: 'addr'; loc: string };

/**
 * One instruction of a thread, in the subset of PPC that ipiscope executes.
 *
 * Registers are 64-bit (see `aluValue`), memory words 32-bit: `lwz` of a word 0xffffffff gives
 * 4294967295, `lwa` gives -1, as herd says. The byte, halfword and doubleword forms (`lbz`, `sth`,
 * `ld`, `stdcx.`, ...) are the word forms with a `width` (absent: 4): a location holds what its
 * accesses' width holds, and a test that reaches one location with two widths (mixed-size, a
 * model of its own) is refused when it runs.
 *
 * Registers are lower-case `r0`..`r31`. The base register `ra` of the forms that apply PPC's
 * rA=0 rule (addi, stw, lwz, stwx, lwzx, lwarx, stwcx.) is the name `"0"` when the file writes `0`
 * or `r0` there: the operand then reads as the value zero, not as the contents of r0 (herd does
 * the same). `cr` names the condition-register field of a compare or conditional branch; it is
 * absent for cr0, the default when the file omits it.
 */
export type Instr =
  | { op: 'li'; rd: string; imm: number }
  | { op: 'addi'; rd: string; ra: string; imm: number }
  | { op: 'mr'; rd: string; rs: string }
  /** `rc`: the record form (`add.`): CR0 gets the result compared with 0. */
  | { op: 'xor' | 'add' | 'and' | 'or' | 'subf' | 'nor' | 'mullw'; rd: string; ra: string; rb: string; rc?: true }
  /** Shifts of the low word by rB's low 6 bits (slw, srw: logical; sraw: arithmetic) and division
   * of the low words (divw signed, divwu unsigned); `ra` is the shifted or divided register. */
  | { op: 'slw' | 'srw' | 'sraw' | 'divw' | 'divwu'; rd: string; ra: string; rb: string; rc?: true }
  /** srawi: the low word shifted right arithmetically by `sh` (0-31), sign-extended. */
  | { op: 'srawi'; rd: string; rs: string; sh: number; rc?: true }
  /** neg: 0 - rA; mulli: rA * SI (the low 64 bits). */
  | { op: 'neg'; rd: string; ra: string; rc?: true }
  | { op: 'mulli'; rd: string; ra: string; imm: number }
  /** andi.: rS AND the 16-bit UI, always recorded in CR0. */
  | { op: 'andi'; rd: string; rs: string; imm: number; rc: true }
  | { op: 'ori' | 'xori'; rd: string; rs: string; imm: number }
  /** extsw: the low word sign-extended; clrldi: the low 64-n bits kept. */
  | { op: 'extsw'; rd: string; rs: string }
  | { op: 'clrldi'; rd: string; rs: string; n: number }
  /** Rotate left by `sh`, then keep mask bits `mb`..`me` (IBM numbering, 0 = most significant);
   * rlwimi inserts them into `rd` instead of clearing the rest. */
  | { op: 'rlwinm' | 'rlwimi'; rd: string; rs: string; sh: number; mb: number; me: number }
  /** `update`: stwu / stwux (lwzu / lwzux below), which also write the address to `ra`. */
  | { op: 'stw'; rs: string; disp: number; ra: string; width?: AccessWidth; update?: true }
  | { op: 'stwx'; rs: string; ra: string; rb: string; width?: AccessWidth; update?: true }
  /** `signed`: lwa / lwax / lha / lhax, which sign-extend (lwz, lwzx, lhz, lbz zero-extend). */
  | { op: 'lwz'; rd: string; disp: number; ra: string; signed?: true; width?: AccessWidth; update?: true }
  | { op: 'lwzx'; rd: string; ra: string; rb: string; signed?: true; width?: AccessWidth; update?: true }
  | { op: 'lwarx'; rd: string; ra: string; rb: string; width?: AccessWidth }
  | { op: 'stwcx'; rs: string; ra: string; rb: string; width?: AccessWidth }
  | { op: 'sync' | 'lwsync' | 'isync' | 'eieio' }
  /** `dword`: cmpd, cmpdi, cmpld, cmpldi (the whole 64-bit registers; the others their low words). */
  | { op: 'cmpw'; ra: string; rb: string; cr?: number; dword?: true }
  | { op: 'cmpwi'; ra: string; imm: number; cr?: number; dword?: true }
  | { op: 'cmplw'; ra: string; rb: string; cr?: number; dword?: true }
  | { op: 'cmplwi'; ra: string; imm: number; cr?: number; dword?: true }
  | { op: 'nop' }
  | { op: 'b' | CondBranch; label: string; cr?: number }
  | { op: 'label'; name: string };

/** Bytes a memory access moves: byte, halfword, word (the default) or doubleword. */
export type AccessWidth = 1 | 2 | 4 | 8;

/** The width of a memory access instruction (4 when it says none). */
export function widthOf(i: { width?: AccessWidth }): AccessWidth {
  return i.width ?? 4;
}

/** An instruction with the 1-based line of the file it came from (for error messages). */
export interface SourcedInstr {
  instr: Instr;
  line: number;
}

export interface LitmusThread {
  /** Index in the test (P0 -> 0). */
  index: number;
  code: SourcedInstr[];
}

/** A variable observed in the final state: a thread's register or a memory location. */
export type ObsVar = { kind: 'reg'; thread: number; reg: string } | { kind: 'loc'; loc: string };

/** The proposition of the final condition. */
export type CondExpr =
  | { kind: 'true' }
  | { kind: 'false' }
  | { kind: 'eq'; v: ObsVar; value: LitmusValue }
  /** Two variables hold the same value (herd's `0:r1=0:r3`, `[x]=[y]`). */
  | { kind: 'same'; v: ObsVar; w: ObsVar }
  | { kind: 'not'; e: CondExpr }
  | { kind: 'and'; es: CondExpr[] }
  | { kind: 'or'; es: CondExpr[] };

export type Quantifier = 'exists' | '~exists' | 'forall';

export interface LitmusTest {
  /** Always `PPC` for the tests ipiscope runs. */
  arch: string;
  /** The test name from the header line (`PPC MP+lwsyncs` -> `MP+lwsyncs`). */
  name: string;
  /** The file it was read from. */
  file: string;
  /** Initial register values per thread (thread index -> register -> value). */
  initRegs: Map<number, Map<string, LitmusValue>>;
  /** Initial memory values (location -> word; a pointer `p=x` holds `litmusAddr` of x). Locations
   * not listed start at 0. */
  initMem: Map<string, number>;
  /** Every location the test names (initial state, registers, condition), in first-seen order. */
  locations: string[];
  threads: LitmusThread[];
  quantifier: Quantifier;
  condition: CondExpr;
  /** herd's `filter`: runs whose final state fails it are left out (counted as filtered). */
  filter?: CondExpr;
  /** Extra variables from a `locations [...]` clause, shown in the final state. */
  observed: ObsVar[];
}

/** The conditional branches, on a CR field's lt/gt/eq bits. */
export type CondBranch = 'beq' | 'bne' | 'blt' | 'bgt' | 'ble' | 'bge';

export function isBranch(i: Instr): i is Extract<Instr, { op: 'b' | CondBranch }> {
  return i.op === 'b' || i.op === 'beq' || i.op === 'bne' || i.op === 'blt' || i.op === 'bgt' || i.op === 'ble' || i.op === 'bge';
}

/** A CR field's bits: LT, GT, EQ (a failed stwcx. sets none of them). */
export const CR_LT = 4;
export const CR_GT = 2;
export const CR_EQ = 1;

/** Whether conditional branch `op` is taken on a CR field holding `bits`. */
export function branchTaken(op: CondBranch, bits: number): boolean {
  switch (op) {
    case 'beq':
      return (bits & CR_EQ) !== 0;
    case 'bne':
      return (bits & CR_EQ) === 0;
    case 'blt':
      return (bits & CR_LT) !== 0;
    case 'bgt':
      return (bits & CR_GT) !== 0;
    case 'ble':
      return (bits & CR_GT) === 0;
    case 'bge':
      return (bits & CR_LT) === 0;
  }
}

/** The instructions that only compute a register from registers and immediates. */
export type AluInstr = Extract<Instr, { op: 'li' | 'addi' | 'mr' | 'xor' | 'add' | 'and' | 'or' | 'subf' | 'nor' | 'mullw' | 'slw' | 'srw' | 'sraw' | 'srawi' | 'divw' | 'divwu' | 'neg' | 'mulli' | 'andi' | 'ori' | 'xori' | 'extsw' | 'clrldi' | 'rlwinm' | 'rlwimi' }>;

export function isAlu(i: Instr): i is AluInstr {
  switch (i.op) {
    case 'li':
    case 'addi':
    case 'mr':
    case 'xor':
    case 'add':
    case 'and':
    case 'or':
    case 'subf':
    case 'nor':
    case 'mullw':
    case 'slw':
    case 'srw':
    case 'sraw':
    case 'srawi':
    case 'divw':
    case 'divwu':
    case 'neg':
    case 'mulli':
    case 'andi':
    case 'ori':
    case 'xori':
    case 'extsw':
    case 'clrldi':
    case 'rlwinm':
    case 'rlwimi':
      return true;
    default:
      return false;
  }
}

/** The registers an ALU instruction reads (`"0"`, the rA=0 literal, reads as zero). */
export function aluSources(i: AluInstr): string[] {
  switch (i.op) {
    case 'li':
      return [];
    case 'addi':
    case 'neg':
    case 'mulli':
      return [i.ra];
    case 'mr':
    case 'andi':
    case 'ori':
    case 'xori':
    case 'extsw':
    case 'clrldi':
    case 'rlwinm':
    case 'srawi':
      return [i.rs];
    case 'rlwimi':
      return [i.rs, i.rd];
    default:
      return [i.ra, i.rb];
  }
}

/** Mask bits `mb`..`me` of a word, IBM numbering (bit 0 the most significant); wraps when mb > me. */
export function wordMask(mb: number, me: number): number {
  const upTo = (b: number): number => (b >= 31 ? 0xffffffff : (0xffffffff << (31 - b)) >>> 0);
  const from = (b: number): number => 0xffffffff >>> b;
  return (mb <= me ? from(mb) & upTo(me) : from(mb) | upTo(me)) >>> 0;
}

/**
 * Registers are 64-bit, as on POWER in 64-bit mode, and held exactly in a JS number (every value a
 * litmus test makes stays far inside ±2^53; one that does not is refused, never rounded). Memory
 * words are 32-bit and held signed, so a location prints as herd prints an `int`.
 */
function exact(v: number, what: string): number {
  if (!Number.isSafeInteger(v)) throw new RangeError(`${what} makes a value beyond ±2^53, which ipiscope cannot hold exactly`);
  return v;
}

const INT32 = (v: number): boolean => v === (v | 0);

/** A 64-bit bitwise operation on two exact register values. */
function bits64(a: number, b: number, op: 'and' | 'or' | 'xor', what: string): number {
  // Sign-extended 32-bit values give the sign extension of the 32-bit result: the common case.
  if (INT32(a) && INT32(b)) return op === 'and' ? a & b : op === 'or' ? a | b : a ^ b;
  const [x, y] = [BigInt(a), BigInt(b)];
  return exact(Number(BigInt.asIntN(64, op === 'and' ? x & y : op === 'or' ? x | y : x ^ y)), what);
}

/**
 * A litmus test's address space: location i (in `LitmusTest.locations` order) lives at
 * `LITMUS_ADDR_BASE + i * LITMUS_ADDR_STRIDE`, far above any 32-bit value and 4 GiB apart. So an
 * integer a test computes is never taken for an address (`li r1,4096` is 4096, not a location), and
 * address arithmetic that leaves a location (`-4096(r4)`) reaches no other one. Exact as doubles.
 */
export const LITMUS_ADDR_BASE = 2 ** 44;
export const LITMUS_ADDR_STRIDE = 2 ** 32;
/** Locations a test may have (the address space's size). */
export const LITMUS_LOCATIONS_MAX = 4096;

export function litmusAddr(index: number): number {
  return LITMUS_ADDR_BASE + index * LITMUS_ADDR_STRIDE;
}

/** The location index of address `v`, or -1 when `v` is no location's address. */
export function litmusLocIndex(v: number): number {
  const d = v - LITMUS_ADDR_BASE;
  if (d < 0 || d % LITMUS_ADDR_STRIDE !== 0) return -1;
  const i = d / LITMUS_ADDR_STRIDE;
  return i < LITMUS_LOCATIONS_MAX ? i : -1;
}

/** An address as a person reads it: `x`, `x+4`, `y-4096`, or the number. */
export function describeAddress(v: number, locNames: readonly string[]): string {
  const d = v - LITMUS_ADDR_BASE;
  const i = Math.round(d / LITMUS_ADDR_STRIDE);
  const name = i >= 0 ? locNames[i] : undefined;
  if (name === undefined || !Number.isSafeInteger(v)) return String(v);
  const off = d - i * LITMUS_ADDR_STRIDE;
  return off === 0 ? name : `${name}${off > 0 ? '+' : ''}${off}`;
}

/** A value as a final state shows it: a location's address as the location's name. */
export function shownValue(v: number, locNames: readonly string[]): number | string {
  const i = litmusLocIndex(v);
  return i >= 0 && locNames[i] !== undefined ? (locNames[i] as string) : v;
}

/** What a store writes: the register's low 32 bits (stw), 16 (sth) or 8 (stb), all of it (std),
 * or a location's address whole (a pointer, as herd's symbolic values: `stw r2,0(r4)` with r2=x
 * leaves `p=x`). */
export function storedWord(reg: number, width: AccessWidth = 4): number {
  if (litmusLocIndex(reg) >= 0) return reg;
  switch (width) {
    case 8:
      return reg;
    case 4:
      return reg | 0;
    case 2:
      return reg & 0xffff;
    case 1:
      return reg & 0xff;
  }
}

/** A loaded value in a register: zero-extended (lwz, lwzx, lwarx, lhz, lbz) or sign-extended
 * (lwa, lwax, lha, lhax); a doubleword whole; a pointer comes back whole. */
export function loadedValue(word: number, signed: boolean, width: AccessWidth = 4): number {
  if (litmusLocIndex(word) >= 0) return word;
  switch (width) {
    case 8:
      return word;
    case 4:
      return signed ? word | 0 : word >>> 0;
    case 2:
      return signed ? ((word & 0xffff) << 16) >> 16 : word & 0xffff;
    case 1:
      return word & 0xff;
  }
}

/** The CR field a compare sets (cmpw, cmpwi, cmpd, cmpdi signed; cmplw, cmplwi, cmpld, cmpldi
 * unsigned): its bits. The word forms compare the low words, the doubleword forms the whole
 * registers. An address is compared whole (its low word says nothing). */
export function compareWords(a: number, b: number, unsigned: boolean, dword = false): number {
  let x: number | bigint;
  let y: number | bigint;
  if (litmusLocIndex(a) >= 0 || litmusLocIndex(b) >= 0) [x, y] = [a, b];
  else if (dword) [x, y] = unsigned ? [BigInt.asUintN(64, BigInt(a)), BigInt.asUintN(64, BigInt(b))] : [a, b];
  else [x, y] = unsigned ? [a >>> 0, b >>> 0] : [a | 0, b | 0];
  return x < y ? CR_LT : x > y ? CR_GT : CR_EQ;
}

/** Whether an ALU instruction records its result in CR0 (`add.`, `andi.`). */
export function recordsCr0(i: AluInstr): boolean {
  return 'rc' in i && i.rc === true;
}

/** CR0's bits for a recorded result: the 64-bit result compared, signed, with 0 (SO not kept). */
export function cr0Of(result: number): number {
  return result < 0 ? CR_LT : result > 0 ? CR_GT : CR_EQ;
}

/** The value an ALU instruction writes to `rd` (64-bit, exact); `read` gives registers. */
export function aluValue(i: AluInstr, read: (r: string) => number): number {
  switch (i.op) {
    case 'li':
      return i.imm;
    case 'addi':
      return exact(read(i.ra) + i.imm, i.op);
    case 'mr':
      return read(i.rs);
    case 'extsw':
      return read(i.rs) | 0;
    case 'clrldi':
      return exact(Number(BigInt.asUintN(64 - i.n, BigInt(read(i.rs)))), i.op);
    case 'ori':
      return bits64(read(i.rs), i.imm, 'or', i.op);
    case 'andi':
      return bits64(read(i.rs), i.imm, 'and', i.op);
    case 'xori':
      return bits64(read(i.rs), i.imm, 'xor', i.op);
    case 'rlwinm':
    case 'rlwimi': {
      // ROTL32 puts the rotated low word in both halves; the mask is MASK(mb+32, me+32), which
      // reaches the high half only when it wraps (mb > me).
      const w = read(i.rs) >>> 0;
      const rot = BigInt(i.sh === 0 ? w : ((w << i.sh) | (w >>> (32 - i.sh))) >>> 0);
      const m = BigInt(wordMask(i.mb, i.me)) | (i.mb > i.me ? 0xffffffff00000000n : 0n);
      const kept = ((rot << 32n) | rot) & m;
      const v = i.op === 'rlwinm' ? kept : kept | (BigInt(read(i.rd)) & ~m);
      return exact(Number(BigInt.asIntN(64, v)), i.op);
    }
    case 'xor':
    case 'and':
    case 'or':
      return bits64(read(i.ra), read(i.rb), i.op, i.op);
    case 'add':
      return exact(read(i.ra) + read(i.rb), i.op);
    case 'subf':
      return exact(read(i.rb) - read(i.ra), i.op);
    case 'neg':
      return exact(0 - read(i.ra), i.op);
    case 'nor':
      return exact(Number(BigInt.asIntN(64, ~(BigInt(read(i.ra)) | BigInt(read(i.rb))))), i.op);
    case 'mullw':
      // The product of the low words, as signed 32-bit numbers: 64 bits.
      return exact(Number(BigInt(read(i.ra) | 0) * BigInt(read(i.rb) | 0)), i.op);
    case 'mulli':
      return exact(Number(BigInt.asIntN(64, BigInt(read(i.ra)) * BigInt(i.imm))), i.op);
    case 'slw':
    case 'srw':
    case 'sraw': {
      // The shift count is rB's low 6 bits; 32-63 shift everything out (sraw: the sign fills).
      const n = read(i.rb) & 0x3f;
      const w = read(i.ra);
      if (i.op === 'sraw') return n >= 32 ? ((w | 0) < 0 ? -1 : 0) : (w | 0) >> n;
      if (n >= 32) return 0;
      return i.op === 'slw' ? (((w >>> 0) << n) >>> 0) : (w >>> 0) >>> n;
    }
    case 'srawi':
      return (read(i.rs) | 0) >> i.sh;
    case 'divw':
    case 'divwu': {
      const [a, b] = i.op === 'divw' ? [read(i.ra) | 0, read(i.rb) | 0] : [read(i.ra) >>> 0, read(i.rb) >>> 0];
      if (b === 0 || (i.op === 'divw' && a === -0x80000000 && b === -1)) throw new RangeError(`${i.op} of ${a} by ${b}: the architecture leaves the result undefined`);
      // The quotient in the low word; the high word is left undefined by the architecture: here
      // the quotient's sign (divw) or zero (divwu).
      return i.op === 'divw' ? Math.trunc(a / b) | 0 : Math.trunc(a / b) >>> 0;
    }
  }
}
