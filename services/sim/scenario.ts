/**
 * Scenarios: a machine, a kernel, guests pinned to host CPUs, a workload mix, detector
 * thresholds, the seeded propagation policy, a seed and limits. Built-in scenarios live here;
 * users write new ones as YAML (or JSON) files, validated with zod, errors naming file, line and
 * field.
 */
import { readFileSync } from 'node:fs';
import { dirname, extname, resolve as resolvePath } from 'node:path';
import { yaml } from '../stdx/yaml.js';
import { z } from 'zod';
import { assert, InputError, UsageError, UserError } from '../stdx/index.js';
import { lineOfJsonError } from '../stdx/json-error.js';
import { DEFAULT_POLICY } from '../machine/index.js';
import type { MemoryPolicy, Topology } from '../machine/index.js';
import { isMachineFile, resolveMachine } from '../machine/topology.js';
import { isVersionName, versionNames } from '../kernel/index.js';
import { DEFAULT_BUS_POLICY } from './world.js';

/**
 * Bound on a cpulist: the CPUs it may name (0 to this - 1) and how many. A cpulist is expanded into
 * an array, and "0-999999999" would not fit in memory; no machine has more CPUs than this.
 */
export const CPULIST_CPUS_MAX = 65_536;

/** A CPU list in the kernel's cpulist syntax: "0-3,8,10-11", or an array of numbers. */
const cpuList = z
  .union([z.string().regex(/^\s*\d+(-\d+)?(\s*,\s*\d+(-\d+)?)*\s*$/, 'a cpulist like "0-3,8"'), z.array(z.number().int().nonnegative())])
  .superRefine((v, ctx) => {
    const r = expandCpuList(v);
    if ('problem' in r) ctx.addIssue({ code: z.ZodIssueCode.custom, message: r.problem });
  });

const mix = z
  .object({
    compute: z.number().nonnegative().default(0),
    crosscall: z.number().nonnegative().default(0),
    wake: z.number().nonnegative().default(0),
    broadcast: z.number().nonnegative().default(0),
    sleep: z.number().nonnegative().default(0),
  })
  .strict();

/** Ticks [min, max], drawn uniformly. */
const range = z
  .tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])
  .refine(([min, max]) => min <= max, ([min, max]) => ({ message: `[${min}, ${max}] goes backwards: give [min, max] with min <= max` }));

export const scenarioSchema = z
  .object({
    name: z.string().min(1),
    description: z.string().default(''),
    /** Machine preset or machine file. */
    machine: z.string().min(1),
    /** Kernel version (v3.5 ... v5.4); flags may override. */
    kernel: z.string().default('v5.3'),
    seed: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER, 'a seed is at most 2^53-1 (a larger one would be rounded)').default(1),
    /** KVM-HV loaded (host_ipi meaningful). */
    kvm: z.boolean().default(true),
    ablations: z.object({ demuxReadRelaxed: z.boolean().default(false) }).strict().default({}),
    clock: z.object({ ticksPerSecond: z.number().int().positive().default(20_000) }).strict().default({}),
    detectors: z
      .object({
        watchdogThreshSecs: z.number().positive().default(10),
        rcuStallTimeoutSecs: z.number().positive().default(21),
        hungTaskTimeoutSecs: z.number().positive().default(120),
      })
      .strict()
      .default({}),
    /** Seeded propagation policy (MemoryPolicy fields override the machine default). */
    memory: z
      .object({
        applyImmediateProb: z.number().min(0).max(1),
        applyDelayTicksMax: z.number().int().positive(),
        applyTailProb: z.number().min(0).max(1),
        applyTailTicksMax: z.number().int().positive(),
        stallProb: z.number().min(0).max(1),
        stallTicksMax: z.number().int().positive(),
        /** Probability that a store waits in the store queue (stores to other locations pass it). */
        storeDelayProb: z.number().min(0).max(1),
        storeDelayTicksMax: z.number().int().positive(),
        earlyLoadProb: z.number().min(0).max(1),
        earlyLoadTicksMax: z.number().int().positive(),
        /** Ticks a core keeps an unread copy of a directory-tracked location (0: for ever). */
        evictIdleTicks: z.number().int().nonnegative(),
      })
      .partial()
      .strict()
      .default({}),
    bus: z
      .object({
        delayTicksMin: z.number().int().positive(),
        delayTicksMean: z.number().nonnegative(),
        crossSocketTicks: z.number().int().nonnegative(),
        /** Probability that a message stalls its link (a contended cache line); FIFO kept. */
        linkStallProb: z.number().min(0).max(1),
        linkStallTicksMax: z.number().int().positive(),
      })
      .partial()
      .strict()
      .default({}),
    guests: z
      .array(z.object({ name: z.string().min(1), cpus: cpuList, comm: z.string().optional() }).strict())
      .default([]),
    workload: z
      .object({
        /** CPUs running host load; other non-vCPU CPUs idle. */
        hostCpus: cpuList.default([]),
        hostMix: mix.default({ compute: 1 }),
        /** What a vCPU thread's host side does after a guest exit. */
        exitMix: mix.default({ compute: 1 }),
        /** mm_cpumask-like pool of cross-call targets (default: every active CPU). */
        crossCallPool: cpuList.optional(),
        /** Peers drawn per sender from the pool (its csds); targets per call at most this. */
        crossCallPeers: z.number().int().positive().default(8),
        crossCallTargetsMax: z.number().int().positive().default(3),
        crossCallWait: z.boolean().default(true),
        /** CPUs whose tasks get woken (default: every active CPU). */
        wakePool: cpuList.optional(),
        wakeWait: z.boolean().default(false),
        /** Share of wake-ups that go to tasks of vCPU CPUs (the rest to other CPUs of the pool);
         * unset: uniform over the pool. */
        wakeVcpuShare: z.number().min(0).max(1).optional(),
        /** Targets of tick-broadcast IPIs (siblings of the sender are used on POWER8). */
        broadcastPool: cpuList.optional(),
        computeTicks: range.default([20, 200]),
        sleepTicks: range.default([50, 400]),
        guestTicks: range.default([200, 2000]),
        /** Cost (ticks) of the KVM guest-exit path (saving guest state, switching the partition)
         * before the host replays a doorbell that caused the exit. */
        exitTicks: range.default([0, 0]),
        offline: z.object({ cpus: cpuList, atTicks: z.number().int().nonnegative() }).strict().optional(),
      })
      .strict()
      .default({}),
    /**
     * Distributed runs only (`run`; `sim` never reads it). `tickUs`: every core's steps follow one
     * wall clock at this many µs per tick (0: unpaced), so that a bus hop between processes costs
     * a few ticks, as on the simulated bus, and the detectors count `clock.ticksPerSecond` ticks per
     * emulated second as in `sim`. `lagTicksMax`/`behindMsMax`: a core further behind the clock
     * than that for longer than that makes the run invalid (its time scale broke). `durationSecs`:
     * the wall-clock bound of `run` when `--duration` is not given (else 30 s).
     */
    distributed: z
      .object({
        tickUs: z.number().nonnegative(),
        durationSecs: z.number().positive().optional(),
        lagTicksMax: z.number().int().positive().optional(),
        behindMsMax: z.number().positive().optional(),
        /** `run` ends at the first CALL_FUNCTION the cores' loss watch confirms lost (a doorbell taken
         * as a guest wake-up with the message pending, unread half a second later) while a CPU waits for
         * its target; the drain then judges the machine. `--[no-]stop-at-lost` overrides it. */
        stopAtLost: z.boolean().optional(),
      })
      .strict()
      .optional(),
    limits: z
      .object({
        ticksMax: z.number().int().positive().default(50_000_000),
        /** Stop after this many handled IPIs (0: no goal). */
        ipis: z.number().int().nonnegative().default(0),
        /** An offline CPU woken more often than this is a storm. */
        stormWakes: z.number().int().positive().default(10_000),
        /** IPIs ordered less than this long (s) before the end are in flight, not ignored. */
        settleSecs: z.number().nonnegative().default(1),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioInput = z.input<typeof scenarioSchema>;

/** The CPUs of a cpulist, in the order given, or what is wrong with it (within the bound above). */
function expandCpuList(v: string | readonly number[]): { cpus: number[] } | { problem: string } {
  const cpus: number[] = [];
  const parts = Array.isArray(v) ? v.map((c) => ({ text: String(c), lo: c, hi: c })) : [];
  if (typeof v === 'string') {
    for (const part of v.split(',')) {
      const text = part.trim();
      if (text === '') continue;
      const [lo, hi] = text.split('-').map((x) => Number(x.trim()));
      if (lo === undefined || !Number.isInteger(lo) || (hi !== undefined && !Number.isInteger(hi))) return { problem: `bad cpulist "${v}"` };
      parts.push({ text, lo, hi: hi ?? lo });
    }
  }
  for (const { text, lo, hi } of parts) {
    if (hi < lo) return { problem: `range ${text} goes backwards` };
    if (hi >= CPULIST_CPUS_MAX) return { problem: `${lo === hi ? 'CPU' : 'range'} ${text} goes beyond the ${CPULIST_CPUS_MAX} CPUs a cpulist may name (0-${CPULIST_CPUS_MAX - 1})` };
    if (cpus.length + (hi - lo + 1) > CPULIST_CPUS_MAX) return { problem: `names more than ${CPULIST_CPUS_MAX} CPUs` };
    for (let c = lo; c <= hi; c++) cpus.push(c);
  }
  return { cpus };
}

/** The CPUs of a cpulist; UsageError naming `field` when it is malformed or beyond the bound. */
export function parseCpuList(v: string | readonly number[], field = 'cpulist'): number[] {
  const r = expandCpuList(v);
  if ('problem' in r) throw new UsageError(`${field}: ${r.problem}`);
  return r.cpus;
}

export function memoryPolicyOf(s: Scenario): MemoryPolicy {
  return { ...DEFAULT_POLICY, ...s.memory };
}

/** How a scenario's cores are built, the same in `sim` and in every core process of `run` (and
 * its replay): the memory policy, the view history early loads need, the start skew. */
export function scenarioCoreMemory(s: Scenario): { policy: MemoryPolicy; keepHistory: boolean; startSkewTicksMax: number } {
  const policy = memoryPolicyOf(s);
  return { policy, keepHistory: policy.earlyLoadProb > 0, startSkewTicksMax: 50 };
}

export function busPolicyOf(s: Scenario): {
  delayTicksMin: number;
  delayTicksMean: number;
  crossSocketTicks: number;
  linkStallProb: number;
  linkStallTicksMax: number;
} {
  return { ...DEFAULT_BUS_POLICY, linkStallProb: 0, linkStallTicksMax: 1, ...s.bus };
}

/** The seed's guest A: vCPU v pinned in CPUs 4*floor(v/2)..+3 (we use thread 1 or 2 of them). */
function seedGuestA(): number[] {
  const out: number[] = [];
  for (let v = 0; v < 56; v++) out.push(4 * Math.floor(v / 2) + 1 + (v % 2));
  return out;
}

const SEED_HOST = [0, 3, 4, 7, 40, 43, 104, 107, 112, 115, 116, 119];

/** The machine, load and seeded policy of both 2019 scenarios. */
const SEED_2019 = {
  machine: 'seed-2019',
  kernel: 'v5.3',
  clock: { ticksPerSecond: 1000 },
  // The seeded propagation policy: a store may wait in its store queue (a contended line, like the
  // target's IPI message word) while later stores to other locations (host_ipi) reach their homes.
  memory: { applyTailProb: 0.02, applyTailTicksMax: 400, storeDelayProb: 0.3, storeDelayTicksMax: 400, earlyLoadProb: 0 },
  bus: { delayTicksMin: 1, delayTicksMean: 3, crossSocketTicks: 2 },
  workload: {
    hostCpus: SEED_HOST,
    hostMix: { compute: 4, crosscall: 2, wake: 2, sleep: 2 },
    exitMix: { compute: 2, crosscall: 2, wake: 1 },
    crossCallPeers: 16,
    crossCallTargetsMax: 8,
    wakeVcpuShare: 0.5,
    guestTicks: [100, 1500] as [number, number],
    exitTicks: [50, 200] as [number, number],
  },
  // An IPI ordered less than 5 emulated s before the end may still be on its way. 600 emulated s
  // (600,000 ticks, about 6 s of wall time): v5.3 hangs within that for every seed of 1-40 (the
  // latest at 536 s), and the fixed kernel ends ok instead of running 50M ticks (8 minutes).
  limits: { settleSecs: 5, ticksMax: 600_000 },
  // `run` paces every core to 1 ms per tick: on a 2-CPU machine a bus hop between 32 core
  // processes then costs 5.6-10 ticks on average once the cores' code is JIT-warm (`--warm-up`),
  // 12-25 in a run's first minutes (sim's bus: 3.5 within a socket, 5.5 across), against hundreds
  // of steps unpaced, so the race meets about the proportions of hop and work of sim. Faster ticks
  // keep the hops' wall time and make them longer in ticks (500 us: 22-26). `sim` ignores this.
  // `run`'s default bound is 300 s: the v5.3 hang came 50-100 s after the command (4 runs of 4
  // within 300 s; 2 of 8 within a minute); a run ends at the hang, so only an `ok` takes it all.
  // It also ends at the first CALL_FUNCTION lost to the race with a CPU waiting for it (in `sim`,
  // seeds 1-40: at a median of 26.8 emulated s, against 92 s for the soft lockup): the race is
  // then shown as it happens, and the drained machine shows whether anything would ever answer.
  distributed: { tickUs: 1000, durationSecs: 300, stopAtLost: true },
} satisfies Partial<ScenarioInput>;

const BUILTINS: Record<string, ScenarioInput> = {
  'host-ipi-2019': {
    name: 'host-ipi-2019',
    description:
      'The 2019 report fixed by 3a83f677a6ee: 2-socket POWER9 (seed-2019), guest A with 56 vCPUs pinned ' +
      'two per core on CPUs 0-111, guest B with 4 vCPUs, stress load in the guests (exits) and on the host; ' +
      'cross-calls (THP/KSM) and remote wake-ups (half of them of tasks on vCPU CPUs, as I/O completions ' +
      'wake vCPU threads) on doorbells with host_ipi. Console time is compressed: 1 emulated s = 1000 ticks.',
    ...SEED_2019,
    guests: [
      { name: 'A', cpus: seedGuestA(), comm: 'CPU %d/KVM' },
      { name: 'B', cpus: [113, 117, 121, 125], comm: 'CPU %d/KVM' },
    ],
  },
  'host-ipi-2019-clear': {
    name: 'host-ipi-2019-clear',
    description:
      "The commit's second interleaving: the target's clear of host_ipi lands after a new set. Needs the " +
      'named ablation demuxReadRelaxed (the demux first read of the message word unfenced).',
    ...SEED_2019,
    ablations: { demuxReadRelaxed: true },
    guests: [{ name: 'A', cpus: seedGuestA(), comm: 'CPU %d/KVM' }],
  },
  'wake-list-2012': {
    name: 'wake-list-2012',
    description:
      'The 2012 race fixed by 9fb1b36ca123: remote wake-ups through rq->wake_list and the RESCHEDULE IPI ' +
      'on XICS, with cross-calls keeping the targets in their demux loop; scheduler_ipi reads a stale, ' +
      'empty wake_list and a task is left in TASK_WAKING, blocking its waker (hung task). Console time is ' +
      'compressed: 1 emulated s = 1000 ticks.',
    machine: 'power8',
    kernel: 'v3.5',
    kvm: false,
    clock: { ticksPerSecond: 1000 },
    detectors: { hungTaskTimeoutSecs: 20 },
    // The seeded policy: loads under a control dependency may be satisfied early (reader-side
    // reordering), and a write may take long to reach a thread of its home core.
    memory: { applyTailProb: 0.05, applyTailTicksMax: 1500, earlyLoadProb: 0.8, earlyLoadTicksMax: 400 },
    bus: { delayTicksMin: 1, delayTicksMean: 3, crossSocketTicks: 2 },
    workload: {
      hostCpus: '0-31',
      hostMix: { compute: 1, crosscall: 3, wake: 3, sleep: 1 },
      computeTicks: [10, 60],
      wakeWait: true,
      crossCallPeers: 6,
      crossCallTargetsMax: 2,
      crossCallWait: true,
    },
    // 1,200 emulated s (about 12 s of wall time): v3.5 hangs within 600 s for 23 of seeds 1-24
    // (median 200 s); the fixed kernel ends ok instead of running 50M ticks (10 minutes).
    limits: { settleSecs: 5, ticksMax: 1_200_000 },
    // `run` paces its 4 core processes to 1 ms per tick: a bus hop then costs 1-1.3 ticks (sim's
    // bus: 3.5-5.5) and v3.5 reads a wake_list stale about as often as in sim. Unpaced, a hop costs
    // hundreds of steps and a 60 s run (50M steps, 7,386 IPIs, seed 5) never met the race. The
    // hang was said 24-33 s into the machine on seeds 1-3, plus 20 s of hung-task timeout at most
    // and the drain: 90 s of wall time by default.
    distributed: { tickUs: 1000, durationSecs: 90 },
  },
  'offline-doorbell-2015': {
    name: 'offline-doorbell-2015',
    description:
      'The 2015 storm fixed by 755563bc79c7: POWER8, host IPIs to siblings by hypervisor doorbell; a ' +
      'doorbell racing with cpu offline stays latched and wakes the offline thread again and again.',
    machine: 'power8',
    kernel: 'v4.0',
    // Senders read cpu_online before each tick broadcast and wake-up, as the kernel does, so only
    // IPIs that race with a CPU going down reach it: a broadcast-heavy host (idle CPUs on the
    // broadcast timer) keeps enough of them flying around the offline.
    workload: {
      hostCpus: '0-31',
      hostMix: { compute: 2, broadcast: 6, wake: 1, sleep: 1 },
      broadcastPool: '0-31',
      offline: { cpus: '1-7,9-15', atTicks: 2000 },
    },
    limits: { ticksMax: 200_000, stormWakes: 10_000 },
    // `run` paces its 4 core processes to 250 us per tick (4,000 ticks per wall second): v3.19
    // storms at 0.93-0.95 emulated s, as in sim, on every run. Unpaced, the doorbell met a CPU going
    // down in only some runs (2 of 5 ran 60 s without a storm).
    distributed: { tickUs: 250 },
  },
  pingpong: {
    name: 'pingpong',
    description: 'Two CPUs cross-calling each other (the IPI latency test of the 2012 commit).',
    machine: 'power8',
    kernel: 'v3.6',
    kvm: false,
    workload: {
      hostCpus: '0,8',
      hostMix: { crosscall: 1 },
      crossCallPool: '0,8',
      crossCallPeers: 1,
      crossCallTargetsMax: 1,
    },
    limits: { ipis: 10_000 },
  },
};

export function builtinScenarioNames(): string[] {
  return Object.keys(BUILTINS);
}

/** The line of the field at `path` (of its key, in a mapping), or of its nearest enclosing one. */
export type LineOf = (path: readonly (string | number)[]) => number | undefined;

/** A problem of a scenario: the field (its path) and what is wrong; `at` is a more precise path
 * for the line (an element of a list), when there is one. */
interface Problem {
  path: readonly (string | number)[];
  at?: readonly (string | number)[];
  detail: string;
}

/**
 * InputError for the problems: the first by line is the error, the others follow on lines of
 * their own, compiler style, each with its file and line.
 */
function fail(file: string, problems: readonly Problem[], lineOf: LineOf | undefined): never {
  const located = problems
    .map((p) => ({ p, line: lineOf?.(p.at ?? p.path) }))
    .sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  const text = (p: Problem): string => `field ${p.path.join('.') || '(top level)'}: ${p.detail}`;
  const [first, ...rest] = located;
  assert(first !== undefined, 'fail() needs a problem');
  const more = rest.map(({ p, line }) => `\n${file}${line !== undefined ? `:${line}` : ''}: ${text(p)}`);
  throw new InputError(file, first.line, text(first.p) + more.join(''));
}

/** "0-3,8" for [0, 1, 2, 3, 8] (ascending, distinct). */
function formatCpuList(cpus: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && cpus[j + 1] === (cpus[j] as number) + 1) j++;
    parts.push(i === j ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/**
 * What the scenario's CPU lists say against its machine (`topo`) and against each other: every
 * CPU exists, a CPU runs one vCPU of one guest or host load, guests have distinct names, CPU 0
 * stays online. The workload asserts the same; here a user gets the field and the line.
 */
function cpuProblems(s: Scenario, topo: Topology): Problem[] {
  const problems: Problem[] = [];
  type CpuList = Scenario['workload']['hostCpus'];
  // The line of a CPU: its element in a list, the field in a cpulist string.
  const at = (v: CpuList, path: readonly (string | number)[], cpu: number): readonly (string | number)[] =>
    Array.isArray(v) ? [...path, v.indexOf(cpu)] : path;
  const w = s.workload;
  const lists: Array<{ path: readonly (string | number)[]; v: CpuList }> = [
    ...s.guests.map((g, i) => ({ path: ['guests', i, 'cpus'], v: g.cpus })),
    { path: ['workload', 'hostCpus'], v: w.hostCpus },
    ...(w.crossCallPool !== undefined ? [{ path: ['workload', 'crossCallPool'], v: w.crossCallPool }] : []),
    ...(w.wakePool !== undefined ? [{ path: ['workload', 'wakePool'], v: w.wakePool }] : []),
    ...(w.broadcastPool !== undefined ? [{ path: ['workload', 'broadcastPool'], v: w.broadcastPool }] : []),
    ...(w.offline !== undefined ? [{ path: ['workload', 'offline', 'cpus'], v: w.offline.cpus }] : []),
  ];
  const cpuCountOfMachine = topo.sockets * topo.coresPerSocket * topo.threadsPerCore;
  for (const { path, v } of lists) {
    const missing = parseCpuList(v).filter((c) => c >= cpuCountOfMachine);
    if (missing.length === 0) continue;
    const shown = [...new Set(missing)].sort((a, b) => a - b);
    problems.push({
      path,
      at: at(v, path, missing[0] as number),
      detail: `${shown.length === 1 ? `CPU ${shown[0]} does not exist` : `CPUs ${formatCpuList(shown)} do not exist`} on ${topo.name} (CPUs 0-${cpuCountOfMachine - 1})`,
    });
  }
  const guestOfCpu = new Map<number, string>();
  const guestIndexOfName = new Map<string, number>();
  s.guests.forEach((g, i) => {
    const path = ['guests', i, 'cpus'];
    const first = guestIndexOfName.get(g.name);
    if (first !== undefined) problems.push({ path: ['guests', i, 'name'], detail: `guest ${g.name} is defined twice (guests.${first} is ${g.name} too)` });
    else guestIndexOfName.set(g.name, i);
    const mine = new Set<number>();
    for (const c of parseCpuList(g.cpus)) {
      const other = guestOfCpu.get(c);
      const clash = mine.has(c) ? `CPU ${c} is listed twice (a CPU runs one vCPU)` : other !== undefined ? `CPU ${c} is already a vCPU of guest ${other}` : undefined;
      if (clash !== undefined) {
        problems.push({ path, at: at(g.cpus, path, c), detail: clash });
        break;
      }
      mine.add(c);
    }
    for (const c of mine) if (!guestOfCpu.has(c)) guestOfCpu.set(c, g.name);
  });
  const hostPath = ['workload', 'hostCpus'];
  const vcpu = parseCpuList(w.hostCpus).find((c) => guestOfCpu.has(c));
  if (vcpu !== undefined) {
    problems.push({ path: hostPath, at: at(w.hostCpus, hostPath, vcpu), detail: `CPU ${vcpu} is a vCPU of guest ${guestOfCpu.get(vcpu)} (a CPU runs host load or a vCPU, not both)` });
  }
  if (!s.kvm && s.guests.length > 0) {
    problems.push({ path: ['kvm'], detail: `guests need KVM: the scenario has ${s.guests.length} guest${s.guests.length === 1 ? '' : 's'} and kvm: false (drop the guests, or set kvm: true)` });
  }
  if (w.offline !== undefined) {
    const offline = new Set(parseCpuList(w.offline.cpus));
    if (offline.has(0)) {
      const every = offline.size >= cpuCountOfMachine;
      problems.push({ path: ['workload', 'offline', 'cpus'], at: at(w.offline.cpus, ['workload', 'offline', 'cpus'], 0), detail: `CPU 0 cannot go offline${every ? ', and here every CPU would' : ''}; leave it out` });
    }
  }
  return problems;
}

/** Where a scenario value comes from: the line of a field, and the directory of its file. */
export interface ScenarioSource {
  lineOf?: LineOf;
  /** A relative machine file path is taken from here (default: the current directory). */
  dir?: string;
}

/**
 * Validates a scenario value and checks it against its kernel version and its machine; `file`
 * names the source in errors. A scenario that passes runs: its kernel exists, its machine can be
 * read, every CPU it names exists, each CPU has one role. A machine file path comes back absolute
 * when `source.dir` is given, so that whoever runs the scenario finds it.
 */
export function parseScenarioValue(value: unknown, file = 'scenario', source: ScenarioSource = {}): Scenario {
  const { lineOf } = source;
  const r = scenarioSchema.safeParse(value);
  if (r.success) {
    const s = r.data;
    const machine = source.dir !== undefined && isMachineFile(s.machine) ? resolvePath(source.dir, s.machine) : s.machine;
    const problems: Problem[] = [];
    if (!isVersionName(s.kernel)) problems.push({ path: ['kernel'], detail: `unknown kernel "${s.kernel}"; valid kernels are ${versionNames().join(', ')}` });
    let topo: Topology | undefined;
    try {
      topo = resolveMachine(machine);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      problems.push({ path: ['machine'], detail: e.message });
    }
    if (topo !== undefined) problems.push(...cpuProblems(s, topo));
    if (problems.length > 0) fail(file, problems, lineOf);
    return { ...s, machine };
  }
  fail(
    file,
    r.error.issues.map((i) => ({
      path: i.path,
      // An unknown key is reported at its own line, not at its mapping's.
      ...(i.code === z.ZodIssueCode.unrecognized_keys && i.keys[0] !== undefined ? { at: [...i.path, i.keys[0]] } : {}),
      detail: i.message,
    })),
    lineOf,
  );
}

/** Parses a scenario file's text: JSON when `file` ends in .json, else YAML. */
export function parseScenarioText(text: string, file: string): Scenario {
  const isJson = extname(file).toLowerCase() === '.json';
  let value: unknown;
  if (isJson) {
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new InputError(file, lineOfJsonError(text, e), `not valid JSON: ${(e as Error).message.replace(/\r?\n/g, '\\n')}`);
    }
  }
  // JSON is YAML 1.2: the YAML document gives the lines of fields in both syntaxes.
  const { LineCounter, parseDocument, isMap, isNode, isScalar, isSeq } = yaml();
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) {
    throw new InputError(file, lc.linePos(yamlError.pos[0]).line, `not valid ${isJson ? 'JSON' : 'YAML'}: ${yamlError.message.split('\n')[0]}`);
  }
  const lineAt = (node: unknown): number | undefined => (isNode(node) && node.range ? lc.linePos(node.range[0]).line : undefined);
  const lineOf: LineOf = (path) => {
    let node: unknown = doc.contents;
    let line = lineAt(node);
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
        if (pair === undefined) break;
        line = lineAt(pair.key) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof key === 'number' && node.items[key] !== undefined) {
        node = node.items[key];
        line = lineAt(node) ?? line;
      } else break;
    }
    return line;
  };
  return parseScenarioValue(isJson ? value : doc.toJS(), file, { lineOf, dir: dirname(file) });
}

export function loadScenarioFile(path: string): Scenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(path, undefined, `cannot read scenario file (${(e as Error).message})`);
  }
  return parseScenarioText(text, path);
}

/** A built-in scenario name or a scenario file path (.yaml, .yml, .json or containing "/"). */
export function resolveScenario(spec: string): Scenario {
  if (Object.hasOwn(BUILTINS, spec)) return parseScenarioValue(BUILTINS[spec], `built-in scenario ${spec}`);
  if (/[/]|\.(ya?ml|json)$/.test(spec)) return loadScenarioFile(spec);
  throw new UsageError(`unknown scenario "${spec}": give one of ${builtinScenarioNames().join(', ')} or a scenario file`);
}
