/**
 * Runs litmus tests on the emulated machine: each litmus thread becomes the software of one
 * hardware thread (one per core, or SMT siblings of one core), each run is a fresh machine with its
 * own seed, and the final states are counted in a histogram.
 *
 * The interpreter executes ALU and branch instructions for free and yields one machine op per
 * memory access or barrier. It tells the machine which loads may be satisfied early: a load may
 * not be satisfied before the values its address depends on, nor before the thread's previous
 * access to the same location; barriers add their own floors inside the machine.
 */
import { assert, InputError, Random } from '../stdx/index.js';
import { LocationTable } from '../machine/index.js';
import type { MemoryPolicy, Op, Program, ThreadSoftware, Topology } from '../machine/index.js';
import { World } from '../sim/world.js';
import type { BusPolicy } from '../sim/world.js';
import type { AccessWidth, Instr, LitmusTest, LitmusValue, ObsVar } from './ast.js';
import { widthOf, aluSources, aluValue, branchTaken, cr0Of, recordsCr0, compareWords, CR_EQ, isAlu, isBranch, describeAddress, litmusAddr, litmusLocIndex, loadedValue, shownValue, storedWord } from './ast.js';
import { evalProp, formatState, observedVars } from './outcome.js';

export type Placement = 'cores' | 'smt';

export interface LitmusRunOptions {
  runs: number;
  seed: number | string;
  placement: Placement;
  /** Fixed propagation policy; without it every run draws its own (swarm testing). */
  policy?: MemoryPolicy;
  bus?: BusPolicy;
  /** Fixed start skew bound; with it, no run is staggered (SwarmDraw.startStaggerTicks). */
  startSkewTicksMax?: number;
  /** Instructions one thread may execute in one run before the run is declared invalid. */
  instrMax?: number;
  /** Locations announced to every core (default), or tracked by a directory at their home (the
   * kernel model's mode: first reads fetch, syncs reach known sharers only). */
  locations?: 'broadcast' | 'directory';
}

export interface LitmusResult {
  name: string;
  runs: number;
  hits: number;
  outcomes: Record<string, number>;
  /** Runs that could not complete (a thread looped past the bound); they are not in `outcomes`. */
  invalid: number;
  invalidReason?: string;
  /** Runs left out by the test's `filter` (not in `outcomes`, not counted by `hits`). */
  filtered?: number;
  /** Full final states (every register and location) of each distinct outcome, for checkers. */
  states?: Map<string, Map<string, number>>;
}

/** Compiled per-test data shared by every run. */
export interface Compiled {
  test: LitmusTest;
  locIndex: Map<string, number>;
  code: Instr[][];
  /** The file line of each instruction of `code` (for run-time errors). */
  lines: number[][];
  labels: Map<string, number>[];
  initRegs: Map<string, number>[];
  regNames: string[][];
  vars: ObsVar[];
  /** The width each location was reached with, and where: every access to one location must
   * have the same (mixed-size tests are refused). Filled before the runs where the address is
   * plain (a base register the thread never writes), during them otherwise. */
  widths: Map<number, { width: AccessWidth; thread: number; line: number }>;
}

const WIDTH_NAMES: Record<AccessWidth, string> = { 1: 'a byte', 2: 'a halfword', 4: 'a word', 8: 'a doubleword' };

/** Memory access instructions (the ones with a width). */
function isAccess(i: Instr): i is Extract<Instr, { op: 'lwz' | 'lwzx' | 'stw' | 'stwx' | 'lwarx' | 'stwcx' }> {
  return i.op === 'lwz' || i.op === 'lwzx' || i.op === 'stw' || i.op === 'stwx' || i.op === 'lwarx' || i.op === 'stwcx';
}

/** Records that location `idx` is reached with `width` (thread `thread`, file line `line`); a
 * second width is a mixed-size test, which ipiscope does not run. */
function noteWidth(c: Pick<Compiled, 'test' | 'locIndex' | 'widths'>, idx: number, width: AccessWidth, thread: number, line: number): void {
  const seen = c.widths.get(idx);
  if (seen === undefined) {
    c.widths.set(idx, { width, thread, line });
    return;
  }
  if (seen.width === width) return;
  const name = [...c.locIndex.entries()].find(([, i]) => i === idx)?.[0] ?? `#${idx}`;
  throw new InputError(
    c.test.file,
    line,
    `thread P${thread} reaches ${name} as ${WIDTH_NAMES[width]}, and P${seen.thread} (line ${seen.line}) as ${WIDTH_NAMES[seen.width]}: ` +
      'mixed-size tests (one location reached with two widths) are not supported',
  );
}

export function compile(test: LitmusTest): Compiled {
  const locIndex = new Map<string, number>();
  for (const l of test.locations) if (!locIndex.has(l)) locIndex.set(l, locIndex.size);
  for (const l of test.initMem.keys()) if (!locIndex.has(l)) locIndex.set(l, locIndex.size);
  const code: Instr[][] = [];
  const lines: number[][] = [];
  const labels: Map<string, number>[] = [];
  const initRegs: Map<string, number>[] = [];
  const regNames: string[][] = [];
  const value = (v: LitmusValue): number => {
    if (v.kind === 'int') return v.value;
    let i = locIndex.get(v.loc);
    if (i === undefined) {
      i = locIndex.size;
      locIndex.set(v.loc, i);
    }
    return litmusAddr(i);
  };
  for (const th of test.threads) {
    const instrs: Instr[] = [];
    const at: number[] = [];
    const lab = new Map<string, number>();
    for (const s of th.code) {
      if (s.instr.op === 'label') lab.set(s.instr.name, instrs.length);
      else {
        instrs.push(s.instr);
        at.push(s.line);
      }
    }
    for (const s of th.code) {
      const i = s.instr;
      if (isBranch(i) && !lab.has(i.label)) {
        throw new InputError(test.file, s.line, `branch to undefined label ${i.label}`);
      }
    }
    code.push(instrs);
    lines.push(at);
    labels.push(lab);
    const regs = new Map<string, number>();
    const names = new Set<string>();
    for (const [r, v] of test.initRegs.get(th.index) ?? new Map<string, LitmusValue>()) {
      regs.set(r, value(v));
      names.add(r);
    }
    for (const ins of instrs) {
      if ('rd' in ins) names.add(ins.rd);
    }
    initRegs.push(regs);
    regNames.push([...names].sort());
  }
  const c: Compiled = { test, locIndex, code, lines, labels, initRegs, regNames, vars: observedVars(test), widths: new Map() };
  // Accesses whose address is plain: a base register that holds a location from the start and
  // that the thread never writes (the indexed forms add a register the thread computes, the
  // address dependency, which is checked when it runs).
  code.forEach((instrs, t) => {
    const written = new Set(instrs.flatMap((i) => ('rd' in i ? [i.rd] : [])));
    instrs.forEach((i, k) => {
      if (!isAccess(i)) return;
      const bases = i.op === 'lwz' || i.op === 'stw' ? [i.ra] : [i.ra, i.rb];
      if (bases.some((r) => written.has(r))) return;
      const addr = bases.reduce((a, r) => a + (r === '0' ? 0 : initRegs[t]?.get(r) ?? 0), i.op === 'lwz' || i.op === 'stw' ? i.disp : 0);
      const idx = litmusLocIndex(addr);
      if (idx >= 0 && locIndex.size > idx) noteWidth(c, idx, widthOf(i), t, lines[t]?.[k] ?? 0);
    });
  });
  return c;
}

/** The state one run leaves behind: final registers of every thread. */
export interface ThreadResult {
  regs: Map<string, number>;
  timedOut: boolean;
}

/**
 * The software of litmus thread `t`: runs its code on the machine, leaving its registers in
 * `out`. `locIds` maps the test's location index to the machine's location id.
 */
export function interpreter(c: Compiled, t: number, out: ThreadResult, instrMax: number, locIds: number[]): Program {
  return (function* run(): Program {
    const code = c.code[t] as Instr[];
    const labels = c.labels[t] as Map<string, number>;
    const regs = out.regs;
    // The tick from which each register's value is known (for early load satisfaction), and for
    // each location the tick from which the value of this thread's last store to it was known
    // (a load that reads its own store may pass it on that early: store forwarding).
    const ready = new Map<string, number>();
    const storeReady = new Map<number, number>();
    // The condition register's eight fields (CR_LT | CR_GT | CR_EQ bits), and the tick from which
    // each field's value is known.
    const cr = [0, 0, 0, 0, 0, 0, 0, 0];
    const crReady = [0, 0, 0, 0, 0, 0, 0, 0];
    // isync orders later loads only behind the conditional branches before it (ctrlisync, as in
    // ppc.cat): the tick from which every conditional branch executed so far was resolved, and the
    // floor that the last isync put under every later load.
    let branchesReady = 0;
    let isyncFloor = 0;
    // B-cumulativity (ppc.cat's hb* after a barrier): what a load brings in with the write it read
    // (the prerequisites of the barriers behind that write) is passed on only by this thread's
    // stores that are ordered after the load: through a register (address, data), a branch
    // (control), an earlier access whose address depended on it (addr;po), or a load of the same
    // location (po-loc). Each register holds the machine's pool mark of its latest load (marks only
    // grow, so the largest covers the rest); a store carries the largest mark it depends on.
    const mark = new Map<string, number>();
    const crMark = [0, 0, 0, 0, 0, 0, 0, 0];
    let ctrlMark = 0;
    let addrPoMark = 0;
    const loadMark = new Map<number, number>();
    const markOf = (r: string): number => (r === '0' ? 0 : mark.get(r) ?? 0);
    // What a store (or stcx) to `loc` carries: the marks of its address and data registers, of the
    // branches before it, of earlier accesses whose address depended on a load, and of the loads
    // of `loc` itself.
    const storeCarry = (addrMark: number, rs: string, loc: number): number => Math.max(addrMark, markOf(rs), ctrlMark, addrPoMark, loadMark.get(loc) ?? 0);
    let pc = 0;
    let executed = 0;
    const get = (r: string): number => (r === '0' ? 0 : regs.get(r) ?? 0);
    const readyOf = (r: string): number => (r === '0' ? 0 : ready.get(r) ?? 0);
    const locOf = (addr: number, op: string): number => {
      const idx = litmusLocIndex(addr);
      const id = idx < 0 ? undefined : locIds[idx];
      if (id === undefined) {
        // (A base register written r0 reads as zero in loads and stores: the rA=0 rule.)
        const where = describeAddress(addr, [...c.locIndex.keys()]);
        throw new InputError(
          c.test.file,
          c.lines[t]?.[pc - 1],
          `thread P${t}: ${op} accesses ${where === String(addr) ? `address ${addr}` : where}, which is no location ` +
            '(each location is a word of its own: no offset from one reaches another)',
        );
      }
      const w = widthOf(code[pc - 1] as { width?: AccessWidth });
      if (c.widths.get(idx)?.width !== w) noteWidth(c, idx, w, t, c.lines[t]?.[pc - 1] ?? 0);
      return id;
    };
    while (pc < code.length) {
      if (++executed > instrMax) {
        out.timedOut = true;
        return;
      }
      const ins = code[pc] as Instr;
      pc++;
      if (isAlu(ins)) {
        // A register computed from registers is known once its sources are (dependency tracking).
        let at = 0;
        let m = 0;
        for (const r of aluSources(ins)) {
          at = Math.max(at, readyOf(r));
          m = Math.max(m, markOf(r));
        }
        try {
          const v = aluValue(ins, get);
          regs.set(ins.rd, v);
          if (recordsCr0(ins)) cr[0] = cr0Of(v);
        } catch (e) {
          if (!(e instanceof RangeError)) throw e;
          throw new InputError(c.test.file, c.lines[t]?.[pc - 1], `thread P${t}: ${e.message}`);
        }
        ready.set(ins.rd, at);
        mark.set(ins.rd, m);
        if (recordsCr0(ins)) {
          crReady[0] = at;
          crMark[0] = m;
        }
        continue;
      }
      switch (ins.op) {
        case 'nop':
          break;
        case 'lwz':
        case 'lwzx':
        case 'lwarx': {
          const addr = ins.op === 'lwz' ? get(ins.ra) + ins.disp : get(ins.ra) + get(ins.rb);
          const loc = locOf(addr, ins.op);
          const depTick = Math.max(isyncFloor, ins.op === 'lwz' ? readyOf(ins.ra) : Math.max(readyOf(ins.ra), readyOf(ins.rb)));
          const now = yield { k: 'now' };
          let v: number;
          if (ins.op === 'lwarx') {
            // A load like the others (ordering nothing by itself), that reserves what it read.
            v = yield { k: 'larx', loc, floorTick: Math.min(depTick, now) };
          } else {
            const op: Op = depTick < now ? { k: 'ld', loc, floorTick: depTick } : { k: 'ld', loc };
            v = yield op;
          }
          // The register is known from when the load was satisfied (early, or when a miss was
          // answered: a lwarx that fetched its line knows nothing before the line came, and a
          // load that depends on it may not read older than that), or, for a value forwarded from
          // this thread's own store, from when that store's value was.
          const info = yield { k: 'lastload' };
          let at = Math.floor(info / 2);
          if (info % 2 === 1) at = Math.max(depTick, storeReady.get(loc) ?? at);
          const pm = yield { k: 'poolmark' };
          const addrMark = ins.op === 'lwz' ? markOf(ins.ra) : Math.max(markOf(ins.ra), markOf(ins.rb));
          addrPoMark = Math.max(addrPoMark, addrMark);
          loadMark.set(loc, pm);
          regs.set(ins.rd, loadedValue(v, ins.op !== 'lwarx' && ins.signed === true, widthOf(ins)));
          ready.set(ins.rd, at);
          mark.set(ins.rd, pm);
          if (ins.op !== 'lwarx' && ins.update === true) {
            // lwzu/lwzux: the base register gets the address (known when its operands were).
            regs.set(ins.ra, addr);
            ready.set(ins.ra, ins.op === 'lwz' ? readyOf(ins.ra) : Math.max(readyOf(ins.ra), readyOf(ins.rb)));
            mark.set(ins.ra, addrMark);
          }
          break;
        }
        case 'stw':
        case 'stwx': {
          const addr = ins.op === 'stw' ? get(ins.ra) + ins.disp : get(ins.ra) + get(ins.rb);
          const loc = locOf(addr, ins.op);
          const addrReady = ins.op === 'stw' ? readyOf(ins.ra) : Math.max(readyOf(ins.ra), readyOf(ins.rb));
          const addrMark = ins.op === 'stw' ? markOf(ins.ra) : Math.max(markOf(ins.ra), markOf(ins.rb));
          yield { k: 'st', loc, value: storedWord(get(ins.rs), widthOf(ins)), carryMark: storeCarry(addrMark, ins.rs, loc) };
          addrPoMark = Math.max(addrPoMark, addrMark);
          storeReady.set(loc, Math.max(addrReady, readyOf(ins.rs)));
          if (ins.update === true) {
            // stwu/stwux: the base register gets the address.
            regs.set(ins.ra, addr);
            ready.set(ins.ra, addrReady);
            mark.set(ins.ra, addrMark);
          }
          break;
        }
        case 'stwcx': {
          const loc = locOf(get(ins.ra) + get(ins.rb), ins.op);
          const addrMark = Math.max(markOf(ins.ra), markOf(ins.rb));
          const ok = yield { k: 'stcx', loc, value: storedWord(get(ins.rs), widthOf(ins)), carryMark: storeCarry(addrMark, ins.rs, loc) };
          addrPoMark = Math.max(addrPoMark, addrMark);
          storeReady.set(loc, Infinity);
          cr[0] = ok === 1 ? CR_EQ : 0;
          crReady[0] = yield { k: 'now' };
          // Whether it succeeded depends on the reservation's line: as if on everything seen so far.
          crMark[0] = yield { k: 'poolmark' };
          break;
        }
        case 'sync':
        case 'lwsync':
        case 'eieio':
          yield { k: ins.op };
          break;
        case 'isync':
          // No floor of its own: loads after it wait for the branches before it (and, through
          // them, for the loads those branches compared).
          isyncFloor = Math.max(isyncFloor, branchesReady);
          break;
        case 'cmpw':
        case 'cmpwi':
        case 'cmplw':
        case 'cmplwi':
          cr[ins.cr ?? 0] = compareWords(get(ins.ra), ins.op === 'cmpw' || ins.op === 'cmplw' ? get(ins.rb) : ins.imm, ins.op === 'cmplw' || ins.op === 'cmplwi', ins.dword === true);
          crReady[ins.cr ?? 0] = ins.op === 'cmpw' || ins.op === 'cmplw' ? Math.max(readyOf(ins.ra), readyOf(ins.rb)) : readyOf(ins.ra);
          crMark[ins.cr ?? 0] = ins.op === 'cmpw' || ins.op === 'cmplw' ? Math.max(markOf(ins.ra), markOf(ins.rb)) : markOf(ins.ra);
          break;
        case 'b':
          pc = labels.get(ins.label) as number;
          break;
        case 'beq':
        case 'bne':
        case 'blt':
        case 'bgt':
        case 'ble':
        case 'bge':
          branchesReady = Math.max(branchesReady, crReady[ins.cr ?? 0] as number);
          ctrlMark = Math.max(ctrlMark, crMark[ins.cr ?? 0] as number);
          if (branchTaken(ins.op, cr[ins.cr ?? 0] as number)) pc = labels.get(ins.label) as number;
          break;
        case 'label':
          break;
        default: {
          const never: never = ins;
          assert(false, `unknown instruction ${JSON.stringify(never)}`);
        }
      }
    }
  })();
}

/** The machine a placement needs for `n` litmus threads, and the CPU of each litmus thread. */
export function placementMachine(n: number, placement: Placement): { topology: Topology; cpus: number[] } {
  if (placement === 'cores') {
    return {
      topology: { name: `litmus-${n}x1`, cpuModel: 'power9', sockets: 1, coresPerSocket: n, threadsPerCore: 1 },
      cpus: Array.from({ length: n }, (_, i) => i),
    };
  }
  const tpc = n <= 1 ? 1 : n <= 2 ? 2 : n <= 4 ? 4 : 8;
  const cores = Math.ceil(n / tpc);
  return {
    topology: { name: `litmus-smt${tpc}`, cpuModel: 'power8', sockets: 1, coresPerSocket: cores, threadsPerCore: tpc },
    cpus: Array.from({ length: n }, (_, i) => i),
  };
}

/** The software of litmus thread `t` as a ThreadSoftware (see `interpreter`). */
export function litmusSoftware(c: Compiled, t: number, out: ThreadResult, instrMax: number, locIds: number[]): ThreadSoftware {
  return { main: () => interpreter(c, t, out, instrMax, locIds) };
}

/** Runs one litmus test `opts.runs` times. Same options, same result. */
export function runLitmus(test: LitmusTest, opts: LitmusRunOptions): LitmusResult {
  const c = compile(test);
  const n = test.threads.length;
  const { topology, cpus } = placementMachine(n, opts.placement);
  const ncores = topology.sockets * topology.coresPerSocket;
  const instrMax = opts.instrMax ?? 10_000;
  const locNames = [...c.locIndex.keys()];
  const outcomes = new Map<string, number>();
  const states = new Map<string, Map<string, number>>();
  let hits = 0;
  let invalid = 0;
  let filtered = 0;
  let invalidReason: string | undefined;
  const master = new Random(opts.seed, `litmus/${test.name}/${opts.placement}`);
  for (let run = 0; run < opts.runs; run++) {
    const runSeed = master.u32();
    const homes = new Random(runSeed, 'homes');
    const locations = new LocationTable();
    const locIds: number[] = [];
    for (const name of locNames) {
      locIds.push(locations.add(name, homes.int(ncores), test.initMem.get(name) ?? 0, opts.locations !== 'directory'));
    }
    const results: ThreadResult[] = [];
    const byCpu = new Map<number, ThreadSoftware>();
    for (let t = 0; t < n; t++) {
      const out: ThreadResult = { regs: new Map(c.initRegs[t]), timedOut: false };
      results.push(out);
      byCpu.set(cpus[t] as number, { main: () => interpreter(c, t, out, instrMax, locIds) });
    }
    const draw = swarmDraw(new Random(runSeed, 'swarm'));
    const world = new World({
      topology,
      locations,
      seed: runSeed,
      software: (cpu) => byCpu.get(cpu) ?? null,
      policy: opts.policy ?? draw.policy,
      bus: opts.bus ?? draw.bus,
      ...LITMUS_CORE_MEMORY,
      startSkewTicksMax: opts.startSkewTicksMax ?? draw.startSkewTicksMax,
      startStaggerTicks: opts.startSkewTicksMax !== undefined ? 0 : draw.startStaggerTicks,
    });
    const r = world.run({ ticksMax: 10_000_000 });
    if (r.reason !== 'finished' || results.some((x) => x.timedOut)) {
      invalid++;
      invalidReason =
        r.reason !== 'finished' ? `a run stopped (${r.reason}) before every thread finished` : `a thread ran past ${instrMax} instructions (a loop that never exits, or one longer than --instr-max)`;
      continue;
    }
    const mem = new Map<string, number>();
    locNames.forEach((name, i) => mem.set(name, world.finalValue(locIds[i] as number, locations)));
    const lookup = (v: ObsVar): number | string => {
      if (v.kind === 'loc') return shownValue(mem.get(v.loc) ?? test.initMem.get(v.loc) ?? 0, locNames);
      const val = (results[v.thread] as ThreadResult).regs.get(v.reg) ?? 0;
      return shownValue(val, locNames);
    };
    if (test.filter !== undefined && !evalProp(test.filter, lookup)) {
      filtered++;
      continue;
    }
    const key = formatState(c.vars, lookup);
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    if (evalProp(test.condition, lookup)) hits++;
    if (!states.has(key)) {
      const full = new Map<string, number>();
      results.forEach((res, t) => {
        for (const reg of c.regNames[t] as string[]) full.set(`${t}:${reg}`, res.regs.get(reg) ?? 0);
      });
      for (const [k, v] of mem) full.set(k, v);
      states.set(key, full);
    }
  }
  const sorted: Record<string, number> = {};
  for (const k of [...outcomes.keys()].sort()) sorted[k] = outcomes.get(k) as number;
  const res: LitmusResult = { name: test.name, runs: opts.runs, hits, outcomes: sorted, invalid, states };
  if (test.filter !== undefined) res.filtered = filtered;
  if (invalidReason !== undefined) res.invalidReason = invalidReason;
  return res;
}

/** How a litmus machine's cores are built, in `runLitmus` and in every core process of
 * `--mode nats` alike: early loads (the view history), lwsync ordered per thread. */
export const LITMUS_CORE_MEMORY = { keepHistory: true, lwsyncOrdering: 'per-thread' } as const;

/**
 * Swarm testing: each run draws its propagation policy from a small menu, so that some runs are
 * nearly sequential and others very relaxed. Which relaxed outcome shows up depends on how the
 * threads' start times line up with propagation delays, so both are drawn on one time scale.
 */
export interface SwarmDraw {
  policy: MemoryPolicy;
  bus: BusPolicy;
  startSkewTicksMax: number;
  startStaggerTicks: number;
}

export function swarmDraw(rng: Random): SwarmDraw {
  const scale = rng.pick([8, 32, 128]);
  return {
    policy: {
      applyImmediateProb: rng.pick([0, 0.2, 0.5]),
      applyDelayTicksMax: scale,
      applyTailProb: rng.pick([0, 0.05, 0.2]),
      applyTailTicksMax: scale * rng.pick([4, 16]),
      stallProb: rng.pick([0, 0.1, 0.3]),
      stallTicksMax: rng.pick([2, Math.max(2, scale / 4), scale]),
      storeDelayProb: rng.pick([0, 0.2, 0.5]),
      storeDelayTicksMax: scale,
      earlyLoadProb: rng.pick([0, 0.2, 0.6]),
      earlyLoadTicksMax: rng.pick([4, scale, 4 * scale]),
      // Half the draws read as stale as allowed more often (RSW 7 -> 12, IRIW+lwsyncs 5 -> 12 in 10,000).
      earlyLoadOldestProb: rng.pick([0, 0.7]),
      // Cold copies dropped (directory-tracked locations only): never, at once, or after a while.
      evictIdleTicks: rng.pick([0, 1, scale]),
    },
    bus: { delayTicksMin: 1, delayTicksMean: rng.pick([1, scale / 4, scale]), crossSocketTicks: 0 },
    startSkewTicksMax: rng.pick([0, scale, 2 * scale, 4 * scale]),
    // Drawn last (properties are evaluated in order), so the draws above are those of earlier
    // versions. Half the runs start thread t t x (half a scale, or a scale) late
    // (CoreOptions.startStaggerTicks). In 10,000 runs, one thread per core: WRC+addrs 11 -> 34
    // hits, IRIW+addrs 9 -> 52, MP 331 -> 621; SB 10% fewer.
    startStaggerTicks: rng.pick([0, 0, scale / 2, scale]),
  };
}
