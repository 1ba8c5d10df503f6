/**
 * An exact, independent judge of the final states the POWER architecture allows for a litmus test:
 * the axiomatic model of herdtools7's `ppc.cat` (Alglave, Maranget, Tautschnig, "Herding Cats",
 * TOPLAS 2014), re-expressed over explicitly enumerated candidate executions.
 *
 * Pipeline:
 * 1. Each thread is interpreted symbolically-by-enumeration: every load may return any value in a
 *    per-address value domain; each path through the code is a *trace* (memory events, fences,
 *    register dependencies, final registers). Backward branches are followed at most `unroll`
 *    times per thread (like herd's `-unroll`); longer paths are dropped and `loopBoundHit` says
 *    so. For tests with loops the allowed set is therefore exact only for executions within the
 *    bound: a state reachable only after more iterations is missing (spin loops lose nothing,
 *    since every extra iteration re-reads and ends in a state a shorter path also reaches).
 * 2. The value domain is grown to a fixpoint from the initial memory (see `valueDomain`).
 * 3. For each combination of traces, rf is chosen per load among same-address, same-value writes
 *    (and the initial write); co is every linear extension of the per-location order that
 *    uniproc forces given rf (so most uniproc-violating candidates are never built).
 * 4. Every candidate is checked against the axioms of ppc.cat; the final states of the
 *    consistent ones are the allowed set.
 *
 * What ppc.cat says and what is implemented here (relations over memory events only, as in the
 * paper; herd's cat `po` also carries fence events, which only matters for back-to-back fences
 * and is not modelled):
 *   uniproc      acyclic (po-loc | rf | fr | co)
 *   atomic       empty rmw & (fre ; coe)
 *   ppo          the ii/ic/ci/cc least fixpoint of ppo.cat with
 *                  ii0 = addr | data | rfi | rdw      ci0 = ctrlisync | detour
 *                  cc0 = addr | data | po-loc | ctrl | addr;po      ic0 = 0
 *                ppo = (ii & R*R) | (ic & R*W)
 *   fences       sync = all pairs separated by a sync (strong);
 *                lwsync = pairs separated by an lwsync except W*R (light);
 *                eieio = pairs separated by an eieio restricted to W*W (light).
 *                lwsync and eieio are both "light": both are A-cumulative (rfe;fence) and
 *                B-cumulative (fence;hb*) through propbase and both order W*W propagation, but
 *                neither contributes to the strong part of prop. They differ only in which pairs
 *                they order (eieio: W*W only, so eieio orders neither R*R nor R*W). This is
 *                ppc.cat, not herd's alternative fulleieio.cat (where eieio is strong).
 *                isync alone orders nothing; only `ctrlisync` (a conditional branch depending on
 *                a load, then isync, then the event) matters, via ci0.
 *   thinair      hb = ppo | fence | rfe, acyclic hb
 *   propagation  propbase = (fence | rfe;fence) ; hb*
 *                chapo = rfe | fre | coe | fre;rfe | coe;rfe
 *                prop = (propbase & W*W) | (chapo? ; propbase* ; sync ; hb*)
 *                acyclic (co | prop)
 *   observation  irreflexive (fre ; prop ; hb*)
 *   scXX         acyclic (co | po & (EX*EX))  (ppc-checks.cat: exclusive accesses in po order)
 *
 * Instruction semantics follow herd's PPCSem: registers and CR fields start at 0; a base register
 * named `"0"` reads as the constant 0 (the parser writes `r0` in a base position as `"0"`, see
 * ast.ts; `addi rd,r0,imm` is `li` in herd too); compares set LT/GT/EQ of their CR field
 * (signed 32-bit), beq/bne test EQ of theirs. A `stwcx.`
 * succeeds only if a reservation from an earlier `lwarx` is pending at the same address, and may
 * always fail spuriously; either way it clears the reservation. A successful `stwcx.` writes
 * (an exclusive write paired with its `lwarx` by rmw) and sets CR0 to EQ; a failed one writes
 * nothing and clears CR0. CR0 after `stwcx.` carries no dependency on loads. Dependencies are
 * syntactic register data flow (xor r9,r1,r1 depends on r1 although its value is 0), as in herd.
 */
import { assert } from '../stdx/assert.js';
import type { CondExpr, Instr, LitmusTest, LitmusThread, LitmusValue, ObsVar } from '../litmus/ast.js';
import { widthOf, aluSources, aluValue, branchTaken, cr0Of, recordsCr0, compareWords, CR_EQ, isAlu, isBranch, litmusAddr, loadedValue, storedWord } from '../litmus/ast.js';
import { EventSet, Rel } from './relation.js';

export interface AllowedOptions {
  /** How many times a thread may take backward branches (herd's `-unroll`). Default 2. */
  unroll?: number;
  /** Upper bound on traces per thread and round, to fail loudly instead of running forever. */
  traceCountMax?: number;
  /** Upper bound on candidate executions examined. */
  candidateCountMax?: number;
}

export interface AllowedResult {
  /** Every allowed final state, deduplicated, in a stable order. */
  states: Map<string, number>[];
  /** Candidate executions (rf and co chosen) that were checked against the axioms. */
  candidateCount: number;
  /** Candidates that satisfied every axiom. */
  consistentCount: number;
  /** The unroll bound used. */
  unroll: number;
  /** True if some path was cut because it took more backward branches than `unroll`. */
  loopBoundHit: boolean;
  /** Rounds the value domain took to reach its fixpoint. */
  domainRounds: number;
}

const UNROLL_DEFAULT = 2;
const TRACE_COUNT_MAX_DEFAULT = 200_000;
const CANDIDATE_COUNT_MAX_DEFAULT = 5_000_000;
/** Bound on instructions executed per trace; with bounded back-jumps only a bug can exceed it. */
const STEP_COUNT_MAX = 10_000;

// ---------------------------------------------------------------------------------------------
// Locations

/** Every location a test names, in first-seen order (test.locations first). */
export function testLocations(test: LitmusTest): string[] {
  const seen = new Set<string>(test.locations);
  const add = (l: string): void => {
    seen.add(l);
  };
  for (const l of test.initMem.keys()) add(l);
  for (const regs of test.initRegs.values()) for (const v of regs.values()) if (v.kind === 'addr') add(v.loc);
  const walk = (e: CondExpr): void => {
    switch (e.kind) {
      case 'eq':
        if (e.v.kind === 'loc') add(e.v.loc);
        if (e.value.kind === 'addr') add(e.value.loc);
        return;
      case 'same':
        for (const x of [e.v, e.w]) if (x.kind === 'loc') add(x.loc);
        return;
      case 'not':
        walk(e.e);
        return;
      case 'and':
      case 'or':
        e.es.forEach(walk);
        return;
      default:
        return;
    }
  };
  walk(test.condition);
  for (const o of test.observed) if (o.kind === 'loc') add(o.loc);
  return [...seen];
}

/** The address the checker gives a location: the emulator's (`litmusAddr`, in the same order). */
export function locationAddresses(test: LitmusTest): Map<string, number> {
  return new Map(testLocations(test).map((l, i) => [l, litmusAddr(i)]));
}

function valueOf(v: LitmusValue, addrs: Map<string, number>): number {
  if (v.kind === 'int') return v.value;
  const a = addrs.get(v.loc);
  assert(a !== undefined, `location ${v.loc} has no address`);
  return a;
}

// ---------------------------------------------------------------------------------------------
// Thread traces

type FenceKind = 'sync' | 'lwsync' | 'eieio' | 'isync';

interface TraceEvent {
  dir: 'R' | 'W';
  addr: number;
  value: number;
  /** lwarx reads and successful stwcx. writes. */
  exclusive: boolean;
  /** Bit i set: depends on the i-th event of the trace (always a read). */
  addrDeps: bigint;
  dataDeps: bigint;
  /** Reads that a conditional branch po-before this event depended on. */
  ctrlDeps: bigint;
  /** Reads that a conditional branch po-before an isync po-before this event depended on. */
  ctrlIsyncDeps: bigint;
  /** For a successful stwcx.: index in the trace of the lwarx it pairs with. */
  rmwRead: number;
}

interface ThreadTrace {
  events: TraceEvent[];
  /** A fence sits between events[pos-1] and events[pos]. */
  fences: { kind: FenceKind; pos: number }[];
  regs: Map<string, number>;
}

interface RegVal {
  v: number;
  deps: bigint;
}

interface CrField {
  /** CR_LT | CR_GT | CR_EQ (litmus/ast.ts); none after a failed stwcx. */
  bits: number;
  deps: bigint;
}

const CR_CLEAR: CrField = { bits: 0, deps: 0n };

interface ExecState {
  pc: number;
  regs: Map<string, RegVal>;
  /** CR fields cr0..cr7 (only LT, GT, EQ are modelled) and the loads they depend on. */
  cr: CrField[];
  ctrl: bigint;
  ctrlIsync: bigint;
  reservation: { addr: number; readIndex: number; addrDeps: bigint } | null;
  events: TraceEvent[];
  fences: { kind: FenceKind; pos: number }[];
  backJumps: number;
  steps: number;
}

function cloneState(s: ExecState): ExecState {
  return {
    pc: s.pc,
    regs: new Map(s.regs),
    cr: s.cr.slice(),
    ctrl: s.ctrl,
    ctrlIsync: s.ctrlIsync,
    reservation: s.reservation === null ? null : { ...s.reservation },
    events: s.events.slice(),
    fences: s.fences.slice(),
    backJumps: s.backJumps,
    steps: s.steps,
  };
}

interface ThreadContext {
  thread: LitmusThread;
  labels: Map<string, number>;
  initRegs: Map<string, RegVal>;
  /** Registers reported in the final state: initialised, written or observed. */
  reportedRegs: Set<string>;
}

function buildThreadContext(test: LitmusTest, thread: LitmusThread, addrs: Map<string, number>): ThreadContext {
  const labels = new Map<string, number>();
  thread.code.forEach((si, i) => {
    if (si.instr.op === 'label') {
      if (labels.has(si.instr.name)) {
        throw new Error(`${test.file}:${si.line}: label ${si.instr.name} is defined twice in P${thread.index}; rename one.`);
      }
      labels.set(si.instr.name, i);
    }
  });
  const initRegs = new Map<string, RegVal>();
  const reported = new Set<string>();
  for (const [r, v] of test.initRegs.get(thread.index) ?? []) {
    initRegs.set(r, { v: valueOf(v, addrs), deps: 0n });
    reported.add(r);
  }
  for (const si of thread.code) {
    const rd = writtenReg(si.instr);
    if (rd !== null) reported.add(rd);
    const target = branchTarget(si.instr);
    if (target !== null && !labels.has(target)) {
      throw new Error(`${test.file}:${si.line}: P${thread.index} branches to ${target}, which is not a label of that thread.`);
    }
  }
  for (const v of observedVars(test)) if (v.kind === 'reg' && v.thread === thread.index) reported.add(v.reg);
  return { thread, labels, initRegs, reportedRegs: reported };
}

function writtenReg(i: Instr): string | null {
  if (isAlu(i)) return i.rd;
  switch (i.op) {
    case 'lwz':
    case 'lwzx':
    case 'lwarx':
      return i.rd;
    default:
      return null;
  }
}

function branchTarget(i: Instr): string | null {
  return isBranch(i) ? i.label : null;
}

const isZeroLiteral = (r: string): boolean => r === '0';
const isR0 = (r: string): boolean => r === '0' || r === 'r0';

function readReg(s: ExecState, r: string): RegVal {
  return s.regs.get(r) ?? { v: 0, deps: 0n };
}

/** (RA|0) with herd's reading: indexed forms and addi treat r0 as zero, D-forms only "0". */
function readBase(s: ExecState, r: string, r0IsZero: boolean): RegVal {
  if (isZeroLiteral(r) || (r0IsZero && isR0(r))) return { v: 0, deps: 0n };
  return readReg(s, r);
}

interface TraceEnumeration {
  traces: ThreadTrace[];
  loopBoundHit: boolean;
}

/**
 * All traces of one thread when each load may return any value of `domain` at its address
 * (`initialAt` for addresses the domain does not know yet).
 */
function enumerateTraces(
  ctx: ThreadContext,
  domain: Map<number, Set<number>>,
  initialAt: (addr: number) => number,
  unroll: number,
  traceCountMax: number,
): TraceEnumeration {
  const code = ctx.thread.code;
  const traces: ThreadTrace[] = [];
  let loopBoundHit = false;

  const finish = (s: ExecState): void => {
    const regs = new Map<string, number>();
    for (const r of ctx.reportedRegs) regs.set(r, readReg(s, r).v);
    traces.push({ events: s.events, fences: s.fences, regs });
    if (traces.length > traceCountMax) {
      throw new Error(
        `P${ctx.thread.index} has more than ${traceCountMax} paths; the test is too large for the axiomatic checker (raise traceCountMax or shrink the test).`,
      );
    }
  };

  const newEvent = (s: ExecState, e: Omit<TraceEvent, 'ctrlDeps' | 'ctrlIsyncDeps'>): number => {
    s.events.push({ ...e, ctrlDeps: s.ctrl, ctrlIsyncDeps: s.ctrlIsync });
    return s.events.length - 1;
  };

  const setReg = (s: ExecState, r: string, v: number, deps: bigint): void => {
    // Registers are 64-bit, held exactly (see litmus/ast.ts aluValue); stores take the low word.
    s.regs.set(r, { v, deps });
  };

  const run = (s: ExecState): void => {
    for (;;) {
      assert(s.steps++ < STEP_COUNT_MAX, `P${ctx.thread.index}: step bound exceeded despite unroll bound`);
      if (s.pc >= code.length) {
        finish(s);
        return;
      }
      const here = s.pc;
      const si = code[here];
      assert(si !== undefined, 'pc out of range');
      const i = si.instr;
      s.pc++;
      if (isAlu(i)) {
        // addi's rA reads r0 as zero (the rA=0 rule); the others read registers.
        const src = (r: string): RegVal => (i.op === 'addi' ? readBase(s, r, true) : readReg(s, r));
        let deps = 0n;
        for (const r of aluSources(i)) deps |= src(r).deps;
        const v = aluValue(i, (r) => src(r).v);
        setReg(s, i.rd, v, deps);
        if (recordsCr0(i)) s.cr[0] = { bits: cr0Of(v), deps };
        continue;
      }
      switch (i.op) {
        case 'label':
        case 'nop':
          break;
        case 'cmpw':
        case 'cmpwi':
        case 'cmplw':
        case 'cmplwi': {
          const a = readReg(s, i.ra);
          const b = i.op === 'cmpw' || i.op === 'cmplw' ? readReg(s, i.rb) : { v: i.imm, deps: 0n };
          s.cr[i.cr ?? 0] = { bits: compareWords(a.v, b.v, i.op === 'cmplw' || i.op === 'cmplwi', i.dword === true), deps: a.deps | b.deps };
          break;
        }
        case 'b':
        case 'beq':
        case 'bne':
        case 'blt':
        case 'bgt':
        case 'ble':
        case 'bge': {
          let taken = true;
          if (i.op !== 'b') {
            // A conditional branch makes every later event control dependent on its CR field's sources.
            const field = s.cr[i.cr ?? 0] as CrField;
            s.ctrl |= field.deps;
            taken = branchTaken(i.op, field.bits);
          }
          if (!taken) break;
          const target = ctx.labels.get(i.label);
          assert(target !== undefined, `unknown label ${i.label}`);
          if (target <= here) {
            s.backJumps++;
            if (s.backJumps > unroll) {
              loopBoundHit = true;
              return;
            }
          }
          s.pc = target;
          break;
        }
        case 'sync':
        case 'lwsync':
        case 'eieio':
          s.fences.push({ kind: i.op, pos: s.events.length });
          break;
        case 'isync':
          s.fences.push({ kind: 'isync', pos: s.events.length });
          s.ctrlIsync |= s.ctrl;
          break;
        case 'stw':
        case 'stwx': {
          const base = readBase(s, i.ra, i.op === 'stwx');
          const off = i.op === 'stw' ? { v: i.disp | 0, deps: 0n } : readReg(s, i.rb);
          const val = readReg(s, i.rs);
          newEvent(s, {
            dir: 'W',
            addr: base.v + off.v,
            value: storedWord(val.v, widthOf(i)),
            exclusive: false,
            addrDeps: base.deps | off.deps,
            dataDeps: val.deps,
            rmwRead: -1,
          });
          // stwu/stwux: the base register gets the address, with the address's dependencies.
          if (i.update === true) setReg(s, i.ra, base.v + off.v, base.deps | off.deps);
          break;
        }
        case 'lwz':
        case 'lwzx':
        case 'lwarx': {
          const base = readBase(s, i.ra, i.op !== 'lwz');
          const off = i.op === 'lwz' ? { v: i.disp | 0, deps: 0n } : readReg(s, i.rb);
          const addr = base.v + off.v;
          const values = domain.get(addr) ?? new Set([initialAt(addr)]);
          for (const value of values) {
            const t = cloneState(s);
            const idx = newEvent(t, {
              dir: 'R',
              addr,
              value,
              exclusive: i.op === 'lwarx',
              addrDeps: base.deps | off.deps,
              dataDeps: 0n,
              rmwRead: -1,
            });
            setReg(t, i.rd, loadedValue(value, i.op !== 'lwarx' && i.signed === true, widthOf(i)), 1n << BigInt(idx));
            if (i.op !== 'lwarx' && i.update === true) setReg(t, i.ra, addr, base.deps | off.deps);
            if (i.op === 'lwarx') t.reservation = { addr, readIndex: idx, addrDeps: base.deps | off.deps };
            run(t);
          }
          return;
        }
        case 'stwcx': {
          const base = readBase(s, i.ra, true);
          const off = readReg(s, i.rb);
          const addr = base.v + off.v;
          const val = readReg(s, i.rs);
          const res = s.reservation;
          if (res !== null && res.addr === addr) {
            const t = cloneState(s);
            newEvent(t, {
              dir: 'W',
              addr,
              value: storedWord(val.v, widthOf(i)),
              exclusive: true,
              addrDeps: base.deps | off.deps,
              // herd's stwcx. reads the reservation address as data: the lwarx address sources.
              dataDeps: val.deps | res.addrDeps,
              rmwRead: res.readIndex,
            });
            t.reservation = null;
            t.cr[0] = { bits: CR_EQ, deps: 0n };
            run(t);
          }
          s.reservation = null;
          s.cr[0] = CR_CLEAR;
          break;
        }
        default: {
          const never: never = i;
          throw new Error(`unsupported instruction ${JSON.stringify(never)}`);
        }
      }
    }
  };

  run({
    pc: 0,
    regs: new Map(ctx.initRegs),
    cr: Array.from({ length: 8 }, () => CR_CLEAR),
    ctrl: 0n,
    ctrlIsync: 0n,
    reservation: null,
    events: [],
    fences: [],
    backJumps: 0,
    steps: 0,
  });
  return { traces, loopBoundHit };
}

// ---------------------------------------------------------------------------------------------
// Candidate executions

interface GEvent {
  /** -1 for initial writes. */
  thread: number;
  dir: 'R' | 'W';
  addr: number;
  value: number;
  exclusive: boolean;
}

/** The static part of a candidate: events and the relations that do not depend on rf/co. */
interface Skeleton {
  events: GEvent[];
  n: number;
  /** Initial write index per address. */
  initOf: Map<number, number>;
  R: EventSet;
  W: EventSet;
  EX: EventSet;
  po: Rel;
  loc: Rel;
  int: Rel;
  addr: Rel;
  data: Rel;
  ctrl: Rel;
  ctrlisync: Rel;
  sync: Rel;
  lwsync: Rel;
  eieio: Rel;
  rmw: Rel;
  /** Derived once: po-loc, external relation, W*W, R*R, R*W, W*R. */
  poloc: Rel;
  ext: Rel;
  WW: Rel;
  RR: Rel;
  RW: Rel;
  WR: Rel;
  EXEX: Rel;
}

function buildSkeleton(traces: ThreadTrace[], initialAt: (a: number) => number, namedAddrs: number[]): Skeleton {
  const events: GEvent[] = [];
  const initOf = new Map<number, number>();
  const addrSet = new Set<number>(namedAddrs);
  for (const t of traces) for (const e of t.events) addrSet.add(e.addr);
  for (const a of [...addrSet].sort((x, y) => x - y)) {
    initOf.set(a, events.length);
    events.push({ thread: -1, dir: 'W', addr: a, value: initialAt(a), exclusive: false });
  }
  const offsets: number[] = [];
  traces.forEach((t, ti) => {
    offsets.push(events.length);
    for (const e of t.events) events.push({ thread: ti, dir: e.dir, addr: e.addr, value: e.value, exclusive: e.exclusive });
  });
  const n = events.length;
  const R = new EventSet(n, events.flatMap((e, i) => (e.dir === 'R' ? [i] : [])));
  const W = new EventSet(n, events.flatMap((e, i) => (e.dir === 'W' ? [i] : [])));
  const EX = new EventSet(n, events.flatMap((e, i) => (e.exclusive ? [i] : [])));
  const po = new Rel(n);
  const loc = new Rel(n);
  const int = new Rel(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const a = events[i] as GEvent;
      const b = events[j] as GEvent;
      if (a.addr === b.addr) loc.add(i, j);
      if (a.thread >= 0 && a.thread === b.thread) {
        int.add(i, j);
        if (i < j) po.add(i, j);
      }
    }
  }
  const addr = new Rel(n);
  const data = new Rel(n);
  const ctrl = new Rel(n);
  const ctrlisync = new Rel(n);
  const sync = new Rel(n);
  const lwsync = new Rel(n);
  const eieio = new Rel(n);
  const rmw = new Rel(n);
  const depPairs = (rel: Rel, base: number, to: number, deps: bigint): void => {
    for (let k = 0; deps >> BigInt(k) !== 0n; k++) {
      if ((deps >> BigInt(k)) & 1n) rel.add(base + k, base + to);
    }
  };
  traces.forEach((t, ti) => {
    const base = offsets[ti] as number;
    t.events.forEach((e, k) => {
      depPairs(addr, base, k, e.addrDeps);
      depPairs(data, base, k, e.dataDeps);
      depPairs(ctrl, base, k, e.ctrlDeps);
      depPairs(ctrlisync, base, k, e.ctrlIsyncDeps);
      if (e.rmwRead >= 0) rmw.add(base + e.rmwRead, base + k);
    });
    for (const f of t.fences) {
      const rel = f.kind === 'sync' ? sync : f.kind === 'lwsync' ? lwsync : f.kind === 'eieio' ? eieio : null;
      if (rel === null) continue;
      for (let a = 0; a < f.pos; a++) for (let b = f.pos; b < t.events.length; b++) rel.add(base + a, base + b);
    }
  });
  const all = new EventSet(n, events.map((_, i) => i));
  const ext = Rel.cross(all, all).minus(int);
  return {
    events,
    n,
    initOf,
    R,
    W,
    EX,
    po,
    loc,
    int,
    addr,
    data,
    ctrl,
    ctrlisync,
    sync,
    lwsync,
    eieio,
    rmw,
    poloc: po.inter(loc),
    ext,
    WW: Rel.cross(W, W),
    RR: Rel.cross(R, R),
    RW: Rel.cross(R, W),
    WR: Rel.cross(W, R),
    EXEX: Rel.cross(EX, EX),
  };
}

/** The ppc.cat axioms for one candidate (rf as source per read, co as a chain per address). */
function isConsistent(sk: Skeleton, rfSource: Map<number, number>, coChains: number[][]): boolean {
  const { n } = sk;
  const rf = new Rel(n);
  for (const [r, w] of rfSource) rf.add(w, r);
  const co = new Rel(n);
  for (const chain of coChains) for (let i = 0; i < chain.length; i++) for (let j = i + 1; j < chain.length; j++) co.add(chain[i] as number, chain[j] as number);
  const fr = rf.inverse().seq(co);

  if (!sk.poloc.union(rf, fr, co).isAcyclic()) return false;

  const rfe = rf.inter(sk.ext);
  const rfi = rf.inter(sk.int);
  const fre = fr.inter(sk.ext);
  const coe = co.inter(sk.ext);

  if (!sk.rmw.inter(fre.seq(coe)).isEmpty()) return false;

  const dd = sk.addr.union(sk.data);
  const rdw = sk.poloc.inter(fre.seq(rfe));
  const detour = sk.poloc.inter(coe.seq(rfe));
  const addrpo = sk.addr.seq(sk.po);
  const ci0 = sk.ctrlisync.union(detour);
  const ii0 = dd.union(rfi, rdw);
  const cc0 = dd.union(sk.poloc, sk.ctrl, addrpo);
  // ic0 = 0. Least fixpoint of the mutually recursive definitions of ppo.cat.
  let ci = ci0.clone();
  let ii = ii0.clone();
  let cc = cc0.clone();
  let ic = new Rel(n);
  for (let round = 0; ; round++) {
    assert(round <= 4 * n + 4, 'ppo fixpoint did not converge');
    const ci2 = ci0.union(ci.seq(ii), cc.seq(ci));
    const ii2 = ii0.union(ci, ic.seq(ci), ii.seq(ii));
    const cc2 = cc0.union(ci, ci.seq(ic), cc.seq(cc));
    const ic2 = ii.union(cc, ic.seq(cc), ii.seq(ic));
    const stable = ci2.equals(ci) && ii2.equals(ii) && cc2.equals(cc) && ic2.equals(ic);
    ci = ci2;
    ii = ii2;
    cc = cc2;
    ic = ic2;
    if (stable) break;
  }
  const ppo = ii.inter(sk.RR).union(ic.inter(sk.RW));

  const strong = sk.sync;
  const light = sk.lwsync.minus(sk.WR).union(sk.eieio.inter(sk.WW));
  const fence = strong.union(light);

  const hb = ppo.union(fence, rfe);
  if (!hb.isAcyclic()) return false;

  const hbstar = hb.star();
  const propbase = fence.union(rfe.seq(fence)).seq(hbstar);
  const chapo = rfe.union(fre, coe, fre.seq(rfe), coe.seq(rfe));
  const prop = propbase.inter(sk.WW).union(chapo.opt().seq(propbase.star()).seq(strong).seq(hbstar));
  if (!co.union(prop).isAcyclic()) return false;
  if (!fre.seq(prop).seq(hbstar).isIrreflexive()) return false;

  const xx = sk.po.inter(sk.EXEX);
  if (!co.union(xx).isAcyclic()) return false;
  return true;
}

/** Every topological order of `nodes` under `before` edges (pairs [a, b]: a before b). */
function* linearExtensions(nodes: number[], before: Array<[number, number]>): Generator<number[]> {
  const preds = new Map<number, Set<number>>(nodes.map((x) => [x, new Set<number>()]));
  for (const [a, b] of before) preds.get(b)?.add(a);
  const placed = new Set<number>();
  const order: number[] = [];
  function* go(): Generator<number[]> {
    if (order.length === nodes.length) {
      yield order.slice();
      return;
    }
    for (const x of nodes) {
      if (placed.has(x)) continue;
      let ready = true;
      for (const p of preds.get(x) as Set<number>) if (!placed.has(p)) ready = false;
      if (!ready) continue;
      placed.add(x);
      order.push(x);
      yield* go();
      order.pop();
      placed.delete(x);
    }
  }
  yield* go();
}

function* cartesian<T>(choices: T[][]): Generator<T[]> {
  const idx = choices.map(() => 0);
  if (choices.some((c) => c.length === 0)) return;
  for (;;) {
    yield choices.map((c, i) => c[idx[i] as number] as T);
    let k = choices.length - 1;
    while (k >= 0) {
      idx[k] = (idx[k] as number) + 1;
      if ((idx[k] as number) < (choices[k] as T[]).length) break;
      idx[k] = 0;
      k--;
    }
    if (k < 0) return;
  }
}

/** Cheap pre-filter: every read's value is the initial value or written by some trace. */
function readsCanBeSatisfied(combo: ThreadTrace[], initialAt: (a: number) => number): boolean {
  const written = new Set<string>();
  for (const t of combo) for (const e of t.events) if (e.dir === 'W') written.add(`${e.addr}:${e.value}`);
  for (const t of combo) {
    for (const e of t.events) {
      if (e.dir === 'R' && e.value !== initialAt(e.addr) && !written.has(`${e.addr}:${e.value}`)) return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Public API

function observedVars(test: LitmusTest): ObsVar[] {
  const out: ObsVar[] = [...test.observed];
  const walk = (e: CondExpr): void => {
    if (e.kind === 'eq') out.push(e.v);
    else if (e.kind === 'same') out.push(e.v, e.w);
    else if (e.kind === 'not') walk(e.e);
    else if (e.kind === 'and' || e.kind === 'or') e.es.forEach(walk);
  };
  walk(test.condition);
  return out;
}

function stateKey(s: Map<string, number>): string {
  return [...s].map(([k, v]) => `${k}=${v}`).join(';');
}

/**
 * The final states POWER allows for `test` (ppc.cat). Keys: `"<thread>:<reg>"` for every
 * register a thread initialises, writes or that the condition/`locations` observe, and `"<loc>"`
 * for every location (its co-last write).
 */
export function allowedStates(test: LitmusTest, opts: AllowedOptions = {}): AllowedResult {
  const unroll = opts.unroll ?? UNROLL_DEFAULT;
  const traceCountMax = opts.traceCountMax ?? TRACE_COUNT_MAX_DEFAULT;
  const candidateCountMax = opts.candidateCountMax ?? CANDIDATE_COUNT_MAX_DEFAULT;
  assert(Number.isInteger(unroll) && unroll >= 0, `unroll must be a non-negative integer, got ${unroll}`);

  const addrs = locationAddresses(test);
  const locByAddr = new Map([...addrs].map(([l, a]) => [a, l]));
  const initialAt = (a: number): number => {
    const l = locByAddr.get(a);
    return l === undefined ? 0 : (test.initMem.get(l) ?? 0);
  };
  const contexts = test.threads.map((t) => buildThreadContext(test, t, addrs));

  // Value domain: start from the initial memory and add every value some trace writes, until
  // nothing changes. Values that flow into a write (data, address, control, rfi) are all in ppo,
  // and rfe is in hb, so in a consistent execution a value's derivation is an hb chain through at
  // most as many writes as the execution has: after (writes + 1) rounds the domain holds every
  // value a consistent execution can read, even when it never converges (e.g. x := x + 1 loops).
  const domain = new Map<number, Set<number>>();
  for (const [, a] of addrs) domain.set(a, new Set([initialAt(a)]));
  let enumerations: TraceEnumeration[] = [];
  let rounds = 0;
  for (;;) {
    rounds++;
    enumerations = contexts.map((c) => enumerateTraces(c, domain, initialAt, unroll, traceCountMax));
    let grew = false;
    let writesMax = 0;
    for (const en of enumerations) {
      let threadWritesMax = 0;
      for (const t of en.traces) {
        let w = 0;
        for (const e of t.events) {
          if (e.dir === 'R' && !domain.has(e.addr)) {
            domain.set(e.addr, new Set([initialAt(e.addr)]));
            grew = true;
          }
          if (e.dir !== 'W') continue;
          w++;
          let vs = domain.get(e.addr);
          if (vs === undefined) {
            vs = new Set([initialAt(e.addr)]);
            domain.set(e.addr, vs);
          }
          if (!vs.has(e.value)) {
            vs.add(e.value);
            grew = true;
          }
        }
        threadWritesMax = Math.max(threadWritesMax, w);
      }
      writesMax += threadWritesMax;
    }
    if (!grew || rounds > writesMax + 1) break;
  }

  const namedAddrs = [...addrs.values()];
  const states = new Map<string, Map<string, number>>();
  let candidateCount = 0;
  let consistentCount = 0;

  for (const combo of cartesian(enumerations.map((e) => e.traces))) {
    if (!readsCanBeSatisfied(combo, initialAt)) continue;
    const sk = buildSkeleton(combo, initialAt, namedAddrs);
    const reads: number[] = [];
    const writesAt = new Map<number, number[]>();
    sk.events.forEach((e, i) => {
      if (e.dir === 'R') reads.push(i);
      else {
        const list = writesAt.get(e.addr) ?? [];
        list.push(i);
        writesAt.set(e.addr, list);
      }
    });
    // rf candidates: same address and value, and not a po-later write of the same thread.
    const rfChoices = reads.map((r) => {
      const re = sk.events[r] as GEvent;
      return (writesAt.get(re.addr) ?? []).filter((w) => {
        const we = sk.events[w] as GEvent;
        return we.value === re.value && !(we.thread === re.thread && w > r);
      });
    });
    if (rfChoices.some((c) => c.length === 0)) continue;

    for (const rfPick of cartesian(rfChoices)) {
      const rfSource = new Map<number, number>();
      reads.forEach((r, k) => rfSource.set(r, rfPick[k] as number));
      // co constraints uniproc forces, per address (initial write first).
      const before: Array<[number, number]> = [];
      let broken = false;
      const isInit = (w: number): boolean => (sk.events[w] as GEvent).thread === -1;
      const order = (a: number, b: number): void => {
        if (a === b) return;
        if (isInit(b)) broken = true;
        else if (!isInit(a)) before.push([a, b]);
      };
      for (const [i, j] of sk.poloc.pairs()) {
        const a = sk.events[i] as GEvent;
        const b = sk.events[j] as GEvent;
        const src = (x: number): number => (sk.events[x] as GEvent).dir === 'W' ? x : (rfSource.get(x) as number);
        // CoWW, CoWR, CoRW, CoRR: the write seen/made first cannot be co-after the second.
        const wa = src(i);
        const wb = src(j);
        if (a.dir === 'R' && b.dir === 'W' && wa === j) broken = true;
        order(wa, wb);
      }
      if (broken) continue;

      const perAddr: number[][][] = [];
      for (const [a, ws] of writesAt) {
        const init = sk.initOf.get(a) as number;
        const others = ws.filter((w) => w !== init);
        const exts = [...linearExtensions(others, before.filter(([x, y]) => others.includes(x) && others.includes(y)))];
        perAddr.push(exts.map((o) => [init, ...o]));
      }
      for (const coChains of cartesian(perAddr)) {
        candidateCount++;
        if (candidateCount > candidateCountMax) {
          throw new Error(`${test.name}: more than ${candidateCountMax} candidate executions; raise candidateCountMax or shrink the test.`);
        }
        if (!isConsistent(sk, rfSource, coChains)) continue;
        consistentCount++;
        const state = new Map<string, number>();
        combo.forEach((t, ti) => {
          const tid = (test.threads[ti] as LitmusThread).index;
          for (const r of [...t.regs.keys()].sort()) state.set(`${tid}:${r}`, t.regs.get(r) as number);
        });
        for (const [l, a] of addrs) {
          const chain = coChains.find((c) => (sk.events[c[0] as number] as GEvent).addr === a);
          const last = chain === undefined ? undefined : chain[chain.length - 1];
          state.set(l, last === undefined ? initialAt(a) : (sk.events[last] as GEvent).value);
        }
        const key = stateKey(state);
        if (!states.has(key)) states.set(key, state);
      }
    }
  }

  const sorted = [...states.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
  return {
    states: sorted,
    candidateCount,
    consistentCount,
    unroll,
    loopBoundHit: enumerations.some((e) => e.loopBoundHit),
    domainRounds: rounds,
  };
}

/** The value a state key has when a state does not list it: registers 0, memory its initial value. */
function defaultValue(test: LitmusTest, key: string): number {
  if (/^\d+:/.test(key)) return 0;
  return test.initMem.get(key) ?? 0;
}

function varKey(v: ObsVar): string {
  return v.kind === 'reg' ? `${v.thread}:${v.reg}` : v.loc;
}

/** Evaluates a condition's proposition on a final state. */
export function evalCondition(test: LitmusTest, cond: CondExpr, state: Map<string, number>): boolean {
  const addrs = locationAddresses(test);
  const go = (e: CondExpr): boolean => {
    switch (e.kind) {
      case 'true':
        return true;
      case 'false':
        return false;
      case 'eq': {
        const k = varKey(e.v);
        return (state.get(k) ?? defaultValue(test, k)) === valueOf(e.value, addrs);
      }
      case 'same': {
        const [a, b] = [varKey(e.v), varKey(e.w)];
        return (state.get(a) ?? defaultValue(test, a)) === (state.get(b) ?? defaultValue(test, b));
      }
      case 'not':
        return !go(e.e);
      case 'and':
        return e.es.every(go);
      case 'or':
        return e.es.some(go);
      default: {
        const never: never = e;
        throw new Error(`unknown condition ${JSON.stringify(never)}`);
      }
    }
  };
  return go(cond);
}

export interface ConditionVerdict {
  /** Some allowed state satisfies the proposition ("Allowed"), or none does ("Forbidden"). */
  verdict: 'Allowed' | 'Forbidden';
  /** herd's Ok/No for the test's quantifier (exists, ~exists, forall). */
  quantifierHolds: boolean;
  satisfyingStateCount: number;
  result: AllowedResult;
}

/** herd's verdict on the test's condition under ppc.cat. */
export function checkCondition(test: LitmusTest, opts: AllowedOptions = {}): ConditionVerdict {
  const result = allowedStates(test, opts);
  // herd's `filter`: the executions whose final state fails it are not judged.
  const judged = test.filter === undefined ? result.states : result.states.filter((s) => evalCondition(test, test.filter as CondExpr, s));
  const sat = judged.filter((s) => evalCondition(test, test.condition, s)).length;
  const quantifierHolds =
    test.quantifier === 'exists' ? sat > 0
    : test.quantifier === '~exists' ? sat === 0
    : sat === judged.length;
  return { verdict: sat > 0 ? 'Allowed' : 'Forbidden', quantifierHolds, satisfyingStateCount: sat, result };
}

const defaultResults = new WeakMap<LitmusTest, AllowedResult>();

/**
 * Whether an observed (possibly partial) final state is one POWER allows: some allowed state
 * agrees on every key `state` has. Keys an allowed state lacks compare against their default
 * (registers 0, memory its initial value). Results for default options are cached per test.
 */
export function isStateAllowed(test: LitmusTest, state: Map<string, number>, opts?: AllowedOptions): boolean {
  let result = opts === undefined ? defaultResults.get(test) : undefined;
  if (result === undefined) {
    result = allowedStates(test, opts);
    if (opts === undefined) defaultResults.set(test, result);
  }
  return result.states.some((allowed) => {
    for (const [k, v] of state) if ((allowed.get(k) ?? defaultValue(test, k)) !== v) return false;
    return true;
  });
}
