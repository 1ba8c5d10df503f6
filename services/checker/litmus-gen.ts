/**
 * A seeded generator of POWER litmus tests in the spirit of diy7: pick a critical cycle of
 * communication edges (rf, fr, co, always between threads) and program-order edges (always to a
 * different location, decorated with a fence or a dependency), cut it into threads, and render it
 * as a litmus AST, plus herd PPC text, whose `exists` condition witnesses exactly that cycle.
 *
 * Shape: every thread has two accesses joined by one po edge, except lone-write threads (a write
 * reached by fr or co and read by rf, as in WRC and IRIW), which are never adjacent. The number of
 * po edges is the number of locations (2 or 3); there are 2 to 4 threads.
 *
 * Witness: along each location the cycle's accesses form a chain of com edges in coherence order,
 * so writes get values 1, 2 in chain order; a read reads the previous write of its chain (0 if
 * none); a location with two writes is witnessed by its final value. Names follow diy where the
 * shape is a known family (`MP+lwsync+addr`, `WRC+addrs`, `2+2W+syncs`), otherwise they spell
 * the cycle's edges (`Rfe-PodRR-Fre-...`).
 */
import { assert } from '../stdx/assert.js';
import { Random } from '../stdx/random.js';
import type { CondExpr, Instr, LitmusTest, LitmusThread, LitmusValue, ObsVar } from '../litmus/ast.js';
import { conditionText, obsVarName } from '../litmus/outcome.js';

export type Dir = 'R' | 'W';
export type ComEdge = 'rf' | 'fr' | 'co';
export type PoDecoration = 'po' | 'sync' | 'lwsync' | 'eieio' | 'isync' | 'addr' | 'data' | 'ctrl' | 'ctrlisync';

/** `isync` is an isync with no branch before it, which orders nothing (only ctrlisync does). */
export const PO_DECORATIONS: readonly PoDecoration[] = ['po', 'sync', 'lwsync', 'eieio', 'isync', 'addr', 'data', 'ctrl', 'ctrlisync'];

/** One thread of a cycle: a lone write, or two accesses joined by a decorated po edge. */
export type CycleThread = { kind: 'single' } | { kind: 'pair'; first: Dir; second: Dir; deco: PoDecoration };

/** A cycle: `threads[i]`'s last access reaches `threads[i+1]`'s first access by `coms[i]`. */
export interface Cycle {
  threads: CycleThread[];
  coms: ComEdge[];
}

export interface GenerateOptions {
  threadCountMin?: number;
  threadCountMax?: number;
  /** Allowed decorations (default: all). */
  decorations?: readonly PoDecoration[];
}

export interface GeneratedLitmus {
  test: LitmusTest;
  text: string;
  cycle: Cycle;
  /** The cycle in diy's edge vocabulary, e.g. `LwSyncdWW Rfe DpAddrdR Fre`. */
  edges: string;
}

/** Whether `deco` makes sense on a po edge from a `first` access to a `second` access. */
export function decorationFits(deco: PoDecoration, first: Dir, second: Dir): boolean {
  switch (deco) {
    case 'po':
    case 'sync':
    case 'lwsync':
    case 'eieio':
    case 'isync':
      return true;
    case 'addr':
    case 'ctrl':
      return first === 'R';
    case 'data':
      return first === 'R' && second === 'W';
    case 'ctrlisync':
      return first === 'R' && second === 'R';
  }
}

function comFor(from: Dir, to: Dir): ComEdge | null {
  if (from === 'W' && to === 'R') return 'rf';
  if (from === 'R' && to === 'W') return 'fr';
  if (from === 'W' && to === 'W') return 'co';
  return null;
}

const firstDir = (t: CycleThread): Dir => (t.kind === 'single' ? 'W' : t.first);
const lastDir = (t: CycleThread): Dir => (t.kind === 'single' ? 'W' : t.second);

/** Checks the structural invariants of a cycle; returns a reason when it is not well formed. */
export function cycleProblem(c: Cycle): string | null {
  const n = c.threads.length;
  if (n < 2 || c.coms.length !== n) return 'a cycle needs at least 2 threads and one com edge per thread';
  const pairs = c.threads.filter((t) => t.kind === 'pair').length;
  if (pairs < 2) return 'a cycle needs at least 2 po edges (locations)';
  for (let i = 0; i < n; i++) {
    const t = c.threads[i] as CycleThread;
    const next = c.threads[(i + 1) % n] as CycleThread;
    const prev = c.threads[(i + n - 1) % n] as CycleThread;
    if (comFor(lastDir(t), firstDir(next)) !== c.coms[i]) return `com edge ${i} does not match its accesses`;
    if (t.kind === 'single') {
      if (c.coms[i] !== 'rf') return 'a lone write must be read by rf';
      if (prev.kind === 'single') return 'two lone writes cannot be adjacent';
    } else if (!decorationFits(t.deco, t.first, t.second)) {
      return `${t.deco} does not fit ${t.first}->${t.second}`;
    }
  }
  return null;
}

/** A random well-formed cycle. */
export function randomCycle(rng: Random, opts: GenerateOptions = {}): Cycle {
  const nMin = Math.max(2, opts.threadCountMin ?? 2);
  const nMax = Math.min(4, opts.threadCountMax ?? 4);
  assert(nMin <= nMax, `threadCountMin ${nMin} > threadCountMax ${nMax}`);
  const decos = opts.decorations ?? PO_DECORATIONS;
  assert(decos.length > 0, 'no decorations to choose from');
  for (let attempt = 0; attempt < 10_000; attempt++) {
    const n = rng.range(nMin, nMax);
    const pairCount = rng.range(2, Math.min(3, n));
    const singleCount = n - pairCount;
    // Place singles so no two are adjacent (cyclically).
    const kinds: Array<'single' | 'pair'> = rng.shuffle([...Array(singleCount).fill('single'), ...Array(pairCount).fill('pair')]);
    if (kinds.some((k, i) => k === 'single' && kinds[(i + 1) % n] === 'single')) continue;
    const threads: CycleThread[] = kinds.map((k) => {
      if (k === 'single') return { kind: 'single' };
      const first: Dir = rng.chance(0.5) ? 'R' : 'W';
      const second: Dir = rng.chance(0.5) ? 'R' : 'W';
      const fits = decos.filter((d) => decorationFits(d, first, second));
      if (fits.length === 0) return { kind: 'pair', first, second, deco: 'po' as PoDecoration };
      return { kind: 'pair', first, second, deco: rng.pick(fits) };
    });
    if (threads.some((t) => t.kind === 'pair' && !decos.includes(t.deco))) continue;
    const coms: ComEdge[] = [];
    let ok = true;
    for (let i = 0; i < n && ok; i++) {
      const c = comFor(lastDir(threads[i] as CycleThread), firstDir(threads[(i + 1) % n] as CycleThread));
      if (c === null) ok = false;
      else coms.push(c);
    }
    if (!ok) continue;
    const cycle = { threads, coms };
    if (cycleProblem(cycle) === null) return cycle;
  }
  throw new Error('randomCycle: no well-formed cycle found in 10000 attempts; the options are too narrow.');
}

// ---------------------------------------------------------------------------------------------
// Names

function shapeOf(c: Cycle): string {
  return c.threads
    .map((t, i) => `${t.kind === 'single' ? 'W' : t.first + t.second}:${c.coms[i] as string}`)
    .join(' ');
}

/** diy family names by cycle shape (thread accesses:com edge to the next thread, from P0). */
const FAMILIES = new Map<string, string>([
  ['WW:rf RR:fr', 'MP'],
  ['WR:fr WR:fr', 'SB'],
  ['RW:rf RW:rf', 'LB'],
  ['WW:rf RW:co', 'S'],
  ['WW:co WR:fr', 'R'],
  ['WW:co WW:co', '2+2W'],
  ['W:rf RW:rf RR:fr', 'WRC'],
  ['WW:rf RW:rf RR:fr', 'ISA2'],
  ['W:rf RR:fr WR:fr', 'RWC'],
  ['W:rf RW:rf RW:co', 'WWC'],
  ['WW:rf RR:fr WR:fr', 'W+RWC'],
  ['WR:fr WR:fr WR:fr', '3.SB'],
  ['RW:rf RW:rf RW:rf', '3.LB'],
  ['WW:co WW:co WW:co', '3.2W'],
  ['W:rf RR:fr W:rf RR:fr', 'IRIW'],
  ['WR:fr WR:fr WR:fr WR:fr', '4.SB'],
  ['RW:rf RW:rf RW:rf RW:rf', '4.LB'],
  ['WW:co WW:co WW:co WW:co', '4.2W'],
]);

function rotate(c: Cycle, k: number): Cycle {
  const n = c.threads.length;
  const idx = (i: number): number => (i + k) % n;
  return {
    threads: c.threads.map((_, i) => c.threads[idx(i)] as CycleThread),
    coms: c.coms.map((_, i) => c.coms[idx(i)] as ComEdge),
  };
}

function decorationsOf(c: Cycle): PoDecoration[] {
  return c.threads.flatMap((t) => (t.kind === 'pair' ? [t.deco] : []));
}

/**
 * Families whose diy files do not list threads in cycle order: P<k> renders cycle position
 * `layout[k]` (IRIW puts both writers first).
 */
const FAMILY_LAYOUTS = new Map<string, number[]>([['IRIW', [0, 2, 1, 3]]]);

/** The rotation that names a known family (smallest decoration list among ties), else rotation 0. */
export function canonicalRotation(c: Cycle): { cycle: Cycle; family: string | null } {
  let best: { cycle: Cycle; family: string; key: string } | null = null;
  for (let k = 0; k < c.threads.length; k++) {
    const r = rotate(c, k);
    const family = FAMILIES.get(shapeOf(r));
    if (family === undefined) continue;
    const key = decorationsOf(r).join('+');
    if (best === null || key < best.key) best = { cycle: r, family, key };
  }
  if (best !== null) return { cycle: best.cycle, family: best.family };
  // No family: start at the rotation with the smallest edge spelling, so the name is stable.
  let pick = c;
  for (let k = 1; k < c.threads.length; k++) {
    const r = rotate(c, k);
    if (diyEdges(r) < diyEdges(pick)) pick = r;
  }
  return { cycle: pick, family: null };
}

const DIY_DECO: Record<PoDecoration, string> = {
  po: 'Pod',
  sync: 'Syncd',
  lwsync: 'LwSyncd',
  eieio: 'Eieiod',
  isync: 'ISyncd',
  addr: 'DpAddrd',
  data: 'DpDatad',
  ctrl: 'DpCtrld',
  ctrlisync: 'DpCtrlIsyncd',
};
const DIY_COM: Record<ComEdge, string> = { rf: 'Rfe', fr: 'Fre', co: 'Wse' };

/** The cycle in diy's edge names, e.g. `PodWW Rfe PodRR Fre` for MP. */
export function diyEdges(c: Cycle): string {
  const out: string[] = [];
  c.threads.forEach((t, i) => {
    if (t.kind === 'pair') {
      const target = t.deco === 'addr' || t.deco === 'ctrl' || t.deco === 'data' || t.deco === 'ctrlisync' ? t.second : t.first + t.second;
      out.push(`${DIY_DECO[t.deco]}${target}`);
    }
    out.push(DIY_COM[c.coms[i] as ComEdge]);
  });
  return out.join(' ');
}

function testName(c: Cycle, family: string | null): string {
  if (family === null) return diyEdges(c).replace(/ /g, '-');
  const decos = decorationsOf(c);
  const allSame = decos.every((d) => d === decos[0]);
  return allSame ? `${family}+${decos[0] as string}s` : `${family}+${decos.join('+')}`;
}

// ---------------------------------------------------------------------------------------------
// Rendering a cycle as a test

const LOC_NAMES = ['x', 'y', 'z'] as const;

interface Access {
  thread: number;
  /** 0 first, 1 second access of the thread. */
  slot: number;
  dir: Dir;
  loc: number;
  value: number;
}

/** Builds the litmus AST of a cycle, rotating it to its canonical (family) rotation first. */
export function cycleToTest(input: Cycle): LitmusTest {
  const problem = cycleProblem(input);
  assert(problem === null, `cycleToTest: malformed cycle: ${problem}`);
  const { cycle, family } = canonicalRotation(input);
  const n = cycle.threads.length;

  // Walk the cycle from P0's first access; the location changes at each po edge.
  const accesses: Access[][] = cycle.threads.map(() => []);
  let loc = 0;
  const pairCount = decorationsOf(cycle).length;
  cycle.threads.forEach((t, i) => {
    const list = accesses[i] as Access[];
    if (t.kind === 'single') {
      list.push({ thread: i, slot: 0, dir: 'W', loc, value: 0 });
    } else {
      list.push({ thread: i, slot: 0, dir: t.first, loc, value: 0 });
      loc = (loc + 1) % pairCount;
      list.push({ thread: i, slot: 1, dir: t.second, loc, value: 0 });
    }
  });
  assert(loc === 0, 'cycleToTest: locations do not close the cycle');

  // Per location, the run of accesses joined by com edges, in coherence order: locations change
  // only at po edges, so starting the cyclic walk just after one makes every run contiguous.
  const order: Access[] = accesses.flat();
  const startIdx = order.findIndex((a) => a.slot === 1);
  assert(startIdx >= 0, 'cycleToTest: no po edge');
  const chains = new Map<number, Access[]>();
  for (let k = 0; k < order.length; k++) {
    const a = order[(startIdx + k) % order.length] as Access;
    const chain = chains.get(a.loc) ?? [];
    chain.push(a);
    chains.set(a.loc, chain);
  }
  const finalValues = new Map<number, number>();
  for (const [l, chain] of chains) {
    let lastWrite = 0;
    let writes = 0;
    for (const a of chain) {
      if (a.dir === 'W') {
        writes++;
        a.value = writes;
        lastWrite = writes;
      } else {
        a.value = lastWrite;
      }
    }
    if (writes >= 2) finalValues.set(l, lastWrite);
  }

  // Code, diy style: r2 and r4 hold the addresses, r1/r3 the first/second access's value.
  let labelCount = 0;
  // r9 = 0, computed from r1 (a dependency), in one of three idioms: xor with itself (diy's, and
  // the suite's), rlwinm keeping the top bit (the values here are small), or ori then xor.
  // Which one: by thread, for addresses; data and control keep diy's idiom in the first two
  // threads, so that the families the suite holds come out as its text.
  const idiom = (p: number, deco: string): number => (deco === 'addr' ? p % 3 : p >= 2 ? 1 + (p % 2) : 0);
  const zeroFrom = (k: number): Instr[] =>
    k === 0 ? [{ op: 'xor', rd: 'r9', ra: 'r1', rb: 'r1' }]
    : k === 1 ? [{ op: 'rlwinm', rd: 'r9', rs: 'r1', sh: 0, mb: 0, me: 0 }]
    : [{ op: 'ori', rd: 'r9', rs: 'r1', imm: 0 }, { op: 'xor', rd: 'r9', ra: 'r9', rb: 'r1' }];
  const threads: LitmusThread[] = [];
  const initRegs = new Map<number, Map<string, LitmusValue>>();
  const conds: CondExpr[] = [];
  const regConds: CondExpr[] = [];
  const eq = (v: ObsVar, value: number): CondExpr => ({ kind: 'eq', v, value: { kind: 'int', value } });
  const layout = (family === null ? undefined : FAMILY_LAYOUTS.get(family)) ?? cycle.threads.map((_, i) => i);
  assert(layout.length === n && new Set(layout).size === n, 'family layout is not a permutation');
  layout.forEach((i, p) => {
    const t = cycle.threads[i] as CycleThread;
    const [a, b] = accesses[i] as [Access, Access | undefined];
    const code: Instr[] = [];
    const regs = new Map<string, LitmusValue>();
    regs.set('r2', { kind: 'addr', loc: LOC_NAMES[a.loc] as string });
    if (a.dir === 'W') code.push({ op: 'li', rd: 'r1', imm: a.value }, { op: 'stw', rs: 'r1', disp: 0, ra: 'r2' });
    else {
      code.push({ op: 'lwz', rd: 'r1', disp: 0, ra: 'r2' });
      regConds.push(eq({ kind: 'reg', thread: p, reg: 'r1' }, a.value));
    }
    if (t.kind === 'pair' && b !== undefined) {
      regs.set('r4', { kind: 'addr', loc: LOC_NAMES[b.loc] as string });
      let indexed = false;
      let valueReg = 'r3';
      switch (t.deco) {
        case 'po':
          break;
        case 'sync':
        case 'lwsync':
        case 'eieio':
        case 'isync':
          code.push({ op: t.deco });
          break;
        case 'addr':
          code.push(...zeroFrom(idiom(p, t.deco)));
          indexed = true;
          break;
        case 'data':
          code.push(...zeroFrom(idiom(p, t.deco)), { op: 'addi', rd: 'r9', ra: 'r9', imm: b.value });
          valueReg = 'r9';
          break;
        case 'ctrl':
        case 'ctrlisync': {
          const label = `LC${String(labelCount++).padStart(2, '0')}`;
          // A branch on r1 to the next instruction, in one of the idioms herd's tests use.
          const compare: Instr[] = [
            { op: 'cmpw', ra: 'r1', rb: 'r1' },
            { op: 'cmplwi', ra: 'r1', imm: 0 },
            { op: 'cmpwi', ra: 'r1', imm: 0 },
          ];
          const branch: Array<'beq' | 'bne' | 'bge'> = ['beq', 'bne', 'bge'];
          const k = idiom(p, t.deco);
          code.push(compare[k] as Instr, { op: branch[k] as 'beq', label }, { op: 'label', name: label });
          if (t.deco === 'ctrlisync') code.push({ op: 'isync' });
          break;
        }
      }
      if (b.dir === 'W') {
        if (t.deco !== 'data') code.push({ op: 'li', rd: valueReg, imm: b.value });
        code.push(indexed ? { op: 'stwx', rs: valueReg, ra: 'r9', rb: 'r4' } : { op: 'stw', rs: valueReg, disp: 0, ra: 'r4' });
      } else {
        code.push(indexed ? { op: 'lwzx', rd: 'r3', ra: 'r9', rb: 'r4' } : { op: 'lwz', rd: 'r3', disp: 0, ra: 'r4' });
        regConds.push(eq({ kind: 'reg', thread: p, reg: 'r3' }, b.value));
      }
    }
    initRegs.set(p, regs);
    threads.push({ index: p, code: code.map((instr) => ({ instr, line: 0 })) });
  });
  for (const l of [...finalValues.keys()].sort()) conds.push(eq({ kind: 'loc', loc: LOC_NAMES[l] as string }, finalValues.get(l) as number));
  conds.push(...regConds);
  assert(n === threads.length, 'thread count');

  const name = testName(cycle, family);
  const locations: string[] = [];
  for (const regs of initRegs.values()) for (const v of regs.values()) if (v.kind === 'addr' && !locations.includes(v.loc)) locations.push(v.loc);
  return {
    arch: 'PPC',
    name,
    file: `${name}.litmus`,
    initRegs,
    initMem: new Map(),
    locations,
    threads,
    quantifier: 'exists',
    condition: conds.length === 1 ? (conds[0] as CondExpr) : { kind: 'and', es: conds },
    observed: [],
  };
}

/** One random test from `rng`. */
export function generateLitmus(rng: Random, opts: GenerateOptions = {}): GeneratedLitmus {
  const cycle = randomCycle(rng, opts);
  const test = cycleToTest(cycle);
  return { test, text: toLitmusText(test), cycle: canonicalRotation(cycle).cycle, edges: diyEdges(canonicalRotation(cycle).cycle) };
}

/** `count` random tests from seed `seed`, distinct by name (a name is its cycle). */
export function generateLitmusTests(seed: number | bigint | string, count: number, opts: GenerateOptions = {}): GeneratedLitmus[] {
  const rng = new Random(seed, 'litmus-gen');
  const out = new Map<string, GeneratedLitmus>();
  for (let attempt = 0; out.size < count && attempt < count * 50; attempt++) {
    const g = generateLitmus(rng, opts);
    if (!out.has(g.test.name)) out.set(g.test.name, g);
  }
  return [...out.values()];
}

// ---------------------------------------------------------------------------------------------
// herd text

function crPrefix(cr: number | undefined): string {
  return cr === undefined || cr === 0 ? '' : `cr${cr},`;
}

/** One instruction in herd's PPC syntax. */
export function instrText(i: Instr): string {
  switch (i.op) {
    case 'li':
      return `li ${i.rd},${i.imm}`;
    case 'addi':
      return `addi ${i.rd},${i.ra},${i.imm}`;
    case 'mr':
      return `mr ${i.rd},${i.rs}`;
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
    case 'divw':
    case 'divwu':
      return `${i.op}${i.rc === true ? '.' : ''} ${i.rd},${i.ra},${i.rb}`;
    case 'srawi':
      return `srawi${i.rc === true ? '.' : ''} ${i.rd},${i.rs},${i.sh}`;
    case 'neg':
      return `neg${i.rc === true ? '.' : ''} ${i.rd},${i.ra}`;
    case 'andi':
      return `andi. ${i.rd},${i.rs},${i.imm}`;
    case 'mulli':
      return `mulli ${i.rd},${i.ra},${i.imm}`;
    case 'stw':
      return `${i.update === true ? 'stwu' : 'stw'} ${i.rs},${i.disp}(${i.ra})`;
    case 'stwx':
      return `${i.update === true ? 'stwux' : 'stwx'} ${i.rs},${i.ra},${i.rb}`;
    case 'lwz':
      return `${i.signed === true ? 'lwa' : i.update === true ? 'lwzu' : 'lwz'} ${i.rd},${i.disp}(${i.ra})`;
    case 'lwzx':
      return `${i.signed === true ? 'lwax' : i.update === true ? 'lwzux' : 'lwzx'} ${i.rd},${i.ra},${i.rb}`;
    case 'lwarx':
      return `${i.op} ${i.rd},${i.ra},${i.rb}`;
    case 'stwcx':
      return `stwcx. ${i.rs},${i.ra},${i.rb}`;
    case 'sync':
    case 'lwsync':
    case 'isync':
    case 'eieio':
      return i.op;
    case 'cmpw':
      return `cmpw ${crPrefix(i.cr)}${i.ra},${i.rb}`;
    case 'cmpwi':
      return `cmpwi ${crPrefix(i.cr)}${i.ra},${i.imm}`;
    case 'cmplw':
      return `cmplw ${crPrefix(i.cr)}${i.ra},${i.rb}`;
    case 'cmplwi':
      return `cmplwi ${crPrefix(i.cr)}${i.ra},${i.imm}`;
    case 'ori':
    case 'xori':
      return `${i.op} ${i.rd},${i.rs},${i.imm}`;
    case 'rlwinm':
    case 'rlwimi':
      return `${i.op} ${i.rd},${i.rs},${i.sh},${i.mb},${i.me}`;
    case 'nop':
      return 'nop';
    case 'extsw':
      return `extsw ${i.rd},${i.rs}`;
    case 'clrldi':
      return `clrldi ${i.rd},${i.rs},${i.n}`;
    case 'b':
      return `b ${i.label}`;
    case 'beq':
    case 'bne':
    case 'blt':
    case 'bgt':
    case 'ble':
    case 'bge':
      return `${i.op} ${crPrefix(i.cr)}${i.label}`;
    case 'label':
      return `${i.name}:`;
  }
}

function valueText(v: LitmusValue): string {
  return v.kind === 'int' ? String(v.value) : v.loc;
}

/** A test as herd PPC litmus text (the format of /work/shared/litmus/tests). */
export function toLitmusText(test: LitmusTest): string {
  const lines: string[] = [`${test.arch} ${test.name}`, '""', '{'];
  const init: string[] = [];
  for (const [l, v] of test.initMem) init.push(`${l}=${v};`);
  for (const [t, regs] of [...test.initRegs].sort(([a], [b]) => a - b)) {
    for (const [r, v] of regs) init.push(`${t}:${r}=${valueText(v)};`);
  }
  if (init.length > 0) lines.push(init.join(' '));
  lines.push('}');
  const cols = test.threads.map((t) => [`P${t.index}`, ...t.code.map((si) => instrText(si.instr))]);
  const rows = Math.max(...cols.map((c) => c.length));
  const widths = cols.map((c) => Math.max(...c.map((s) => s.length)));
  for (let r = 0; r < rows; r++) {
    const cells = cols.map((c, i) => ` ${(c[r] ?? '').padEnd(widths[i] as number)} `);
    lines.push(`${cells.join('|')};`);
  }
  if (test.observed.length > 0) lines.push(`locations [${test.observed.map((v) => `${obsVarName(v)};`).join(' ')}]`);
  const cond = conditionText(test.condition);
  lines.push(test.quantifier, `(${cond})`);
  return `${lines.join('\n')}\n`;
}
