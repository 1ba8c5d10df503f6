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
  | { op: 'xor' | 'add' | 'and' | 'or' | 'subf'; rd: string; ra: string; rb: string }
  | { op: 'stw'; rs: string; disp: number; ra: string }
  | { op: 'stwx'; rs: string; ra: string; rb: string }
  | { op: 'lwz'; rd: string; disp: number; ra: string }
  | { op: 'lwzx'; rd: string; ra: string; rb: string }
  | { op: 'lwarx'; rd: string; ra: string; rb: string }
  | { op: 'stwcx'; rs: string; ra: string; rb: string }
  | { op: 'sync' | 'lwsync' | 'isync' | 'eieio' }
  | { op: 'cmpw'; ra: string; rb: string; cr?: number }
  | { op: 'cmpwi'; ra: string; imm: number; cr?: number }
  | { op: 'b' | 'beq' | 'bne'; label: string; cr?: number }
  | { op: 'label'; name: string };

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
  /** Initial memory values (location -> integer). Locations not listed start at 0. */
  initMem: Map<string, number>;
  /** Every location the test names (initial state, registers, condition), in first-seen order. */
  locations: string[];
  threads: LitmusThread[];
  quantifier: Quantifier;
  condition: CondExpr;
  /** Extra variables from a `locations [...]` clause, shown in the final state. */
  observed: ObsVar[];
}
