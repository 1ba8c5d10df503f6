/**
 * The command core of `ipiscope sim`: builds the machine, the kernel and the workload of a
 * scenario, runs it on the seeded sim world with the detectors and the ignored-IPI checker, and
 * returns a verdict with the console, /proc/interrupts and a plain-language explanation.
 */
import { assert, AssertionError, MinHeap, Random } from '../stdx/index.js';
import type { CoreMsg, MachineEvent, MachineObserver } from '../machine/index.js';
import { ObserverSet } from '../machine/index.js';
import { resolveMachine } from '../machine/topology.js';
import { Console, Detectors, Kernel, ppcMsgName, cpuSoftware, interruptsJson, procInterrupts, resolveKernel, softLockupSecs, XICS_GUEST_WAKE } from '../kernel/index.js';
import type { Lockup } from '../kernel/index.js';
import { IgnoredIpiChecker } from '../checker/ignored-ipi.js';
import { LostIpiObserver } from '../checker/lost-ipi.js';
import type { LostFoundIpi } from '../checker/lost-ipi.js';
import type { IgnoredIpi } from '../checker/ignored-ipi.js';
import { HostIpiRaceObserver } from '../checker/host-ipi-race.js';
import type { HostIpiInterleaving } from '../checker/host-ipi-race.js';
import { SimBus, World } from './world.js';
import type { Scenario } from './scenario.js';
import { busPolicyOf, scenarioCoreMemory } from './scenario.js';
import { StressWorkload } from './scenario-workload.js';

export interface RunSimOptions {
  kernel?: string;
  patches?: string[];
  revert?: string[];
  seed?: number;
  /** Stop after this many handled IPIs (overrides the scenario's limit). */
  ipis?: number;
  ticksMax?: number;
  observer?: MachineObserver;
  /** Builds the observer once the kernel's locations exist (e.g. tracing, which finds its
   * locations by name): called with `LocationTable.names`, before the run. Not with `observer`. */
  observerFor?: (locationNames: readonly string[]) => MachineObserver;
  /** Ablation override (else the scenario's). */
  demuxReadRelaxed?: boolean;
  /** The kernel's `watchdog_thresh` sysctl (seconds; the soft lockup fires at twice it), else the
   * scenario's `detectors.watchdogThreshSecs`. */
  watchdogThreshSecs?: number;
  /** The kernel's `hung_task_timeout_secs` sysctl, else the scenario's
   * `detectors.hungTaskTimeoutSecs`. */
  hungTaskTimeoutSecs?: number;
  /** KVM scenarios: runs the kernel's live loss watch, as every core of `run` does (confirmed at
   * every tick, after half a second of the scenario's clock), and gives its confirmed losses
   * at the end, and those no demux found since, to hold them against the ground truth
   * (`lost_found`, `ignored`). */
  onLossWatch?: (confirmed: ReadonlyArray<{ cpu: number; lanes: number; tick: number }>, outstanding: ReadonlyArray<{ cpu: number; lanes: number; tick: number }>) => void;
}

export type Verdict = 'ok' | 'hang' | 'storm' | 'invalid';

/** The scenario with the kernel's `watchdog_thresh` set (sysctl kernel.watchdog_thresh), if given. */
export function withWatchdogThresh(s: Scenario, secs: number | undefined): Scenario {
  return secs === undefined ? s : { ...s, detectors: { ...s.detectors, watchdogThreshSecs: secs } };
}

export interface SimResult {
  verdict: Verdict;
  scenario: string;
  seed: number;
  kernel: string;
  patches: string[];
  ipis_sent: number;
  ipis_handled: number;
  /** The machine's ground truth; with KVM, each ignored IPI also names the 2019 interleaving whose
   * host_ipi overwrite preceded it (`message-late` or `clear-late`), when there was one. */
  ignored: Array<IgnoredIpi & { interleaving?: HostIpiInterleaving; target_offline?: true }>;
  /** With KVM: IPIs whose doorbell a guest took as a wake-up (host_ipi == 0) while their message
   * was pending, and that a later host IPI's demux found (`checker/lost-ipi.ts`); the ones never
   * found are in `ignored`. Empty on the fixed kernel. */
  lost_found: LostFoundIpi[];
  lockups: Lockup[];
  interrupts: Record<string, number[]>;
  ticks: number;
  /** What ended the run: a hang or storm (the verdict), the IPI goal, or the tick limit. */
  end_reason: 'hang' | 'storm' | 'invalid' | 'ipis' | 'ticks-max';
  emulated_seconds: number;
  wall_ms: number;
  stuck: Array<{ cpu: number; where: string; waiting_for: number; since_seconds: number }>;
  offline_wakes: Record<string, number>;
  marks: Record<string, number>;
  invalid_reason?: string;
  console: string;
  proc_interrupts: string;
  explanation: string;
}

/**
 * The sim bus plus seeded link stalls: with `linkStallProb` a message holds its link for up to
 * `linkStallTicksMax` ticks (a contended cache line), later messages on the link queue behind it
 * (FIFO kept). Store reordering itself is the machine's (MemoryPolicy.storeDelayProb).
 */
class StallingBus extends SimBus {
  private readonly held = new Map<number, Array<{ src: number; dst: number; msg: CoreMsg }>>();
  private readonly releases = new MinHeap<number>();
  private readonly stallRng: Random;
  stalls = 0;

  constructor(
    private readonly n: number,
    coresPerSocket: number,
    seed: number,
    policy: ReturnType<typeof busPolicyOf>,
  ) {
    super(n, coresPerSocket, seed, policy);
    this.stallRng = new Random(seed, 'simbus/stall');
    this.prob = policy.linkStallProb;
    this.max = policy.linkStallTicksMax;
  }
  private readonly prob: number;
  private readonly max: number;

  override send(src: number, dst: number, msg: CoreMsg): void {
    const link = src * this.n + dst;
    const q = this.held.get(link);
    if (q !== undefined) {
      q.push({ src, dst, msg });
      return;
    }
    if (this.prob > 0 && this.stallRng.chance(this.prob)) {
      this.stalls++;
      this.held.set(link, [{ src, dst, msg }]);
      this.releases.push(this.now + 1 + this.stallRng.int(this.max), link);
      return;
    }
    super.send(src, dst, msg);
  }

  override nextTick(): number {
    return Math.min(super.nextTick(), this.releases.peekKey());
  }

  override get inFlight(): number {
    let n = super.inFlight;
    for (const q of this.held.values()) n += q.length;
    return n;
  }

  override takeDue(tick: number, deliver: Parameters<SimBus['takeDue']>[1]): void {
    while (this.releases.size > 0 && this.releases.peekKey() <= tick) {
      const link = this.releases.pop() as number;
      const q = this.held.get(link) ?? [];
      this.held.delete(link);
      for (const m of q) super.send(m.src, m.dst, m.msg);
    }
    super.takeDue(tick, deliver);
  }
}

function nowMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/** The scenario with the kernel's `hung_task_timeout_secs` set (sysctl kernel.hung_task_timeout_secs), if given. */
export function withHungTaskTimeout(s: Scenario, secs: number | undefined): Scenario {
  return secs === undefined ? s : { ...s, detectors: { ...s.detectors, hungTaskTimeoutSecs: secs } };
}

/** The bound on emulated time of a run with an explicit IPI goal (`--ipis`) and no `--ticks-max`. */
export const TICKS_MAX_FOR_GOAL = 50_000_000;

export function runSim(scenario: Scenario, opts: RunSimOptions = {}): SimResult {
  const s = withHungTaskTimeout(withWatchdogThresh(scenario, opts.watchdogThreshSecs), opts.hungTaskTimeoutSecs);
  const wallStart = nowMs();
  const seed = opts.seed ?? s.seed;
  const topo = resolveMachine(s.machine);
  const patches = resolveKernel({ kernel: opts.kernel ?? s.kernel, patches: opts.patches, revert: opts.revert });
  let world: World | null = null;
  const wl = new StressWorkload(s, topo, seed, () => (world === null ? 0 : world.tick));
  const k = new Kernel({
    topology: topo,
    patches,
    ablations: { demuxReadRelaxed: opts.demuxReadRelaxed ?? s.ablations.demuxReadRelaxed },
    csdPairs: wl.csdPairs(),
    tasks: wl.tasks,
    kvm: s.kvm,
  });
  const con = new Console(s.clock);
  const det = new Detectors(k, con, s.detectors);
  const checker = new IgnoredIpiChecker({ messageLocs: k.ipiMessage });
  const observers: MachineObserver[] = [checker];
  const races = s.kvm ? new HostIpiRaceObserver(k.hostIpi, k.ipiMessage) : null;
  if (races !== null) observers.push(races);
  // After the checker, whose tracking of the IPIs it reads.
  const lostIpis = s.kvm ? new LostIpiObserver(k.hostIpi, checker) : null;
  if (lostIpis !== null) observers.push(lostIpis);
  assert(opts.observer === undefined || opts.observerFor === undefined, 'runSim: give observer or observerFor, not both');
  const extra = opts.observer ?? opts.observerFor?.(k.locs.names);
  if (extra !== undefined) observers.push(extra);
  const observer = observers.length === 1 ? checker : new ObserverSet(observers);
  const bus = busPolicyOf(s);
  const w = new World({
    topology: topo,
    locations: k.locs,
    seed,
    software: (cpu) => cpuSoftware(k, wl, cpu),
    // The same cores as `run`'s (early loads, reader-side reordering, need the view history).
    ...scenarioCoreMemory(s),
    bus: { delayTicksMin: bus.delayTicksMin, delayTicksMean: bus.delayTicksMean, crossSocketTicks: bus.crossSocketTicks },
    observer,
    busFactory: (n, cps, sd) => new StallingBus(n, cps, Number(sd), bus),
  });
  world = w;
  con.printk(0, `Linux version ${patches.label} (ipiscope) #1 SMP`);
  con.printk(0, `scenario ${s.name}: ${topo.name}, seed ${seed}`);

  const tps = s.clock.ticksPerSecond;
  const ipiGoal = opts.ipis ?? s.limits.ipis;
  // An IPI goal asked for explicitly is not cut short by the scenario's default bound on time.
  const ticksMax = opts.ticksMax ?? (opts.ipis !== undefined ? Math.max(s.limits.ticksMax, TICKS_MAX_FOR_GOAL) : s.limits.ticksMax);
  const period = det.periodTicks();
  let nextSample = period;
  if (opts.onLossWatch !== undefined && s.kvm) k.lossWatch = { now: () => w.tick, messageWord: (cpu) => w.finalValue(k.ipiMessage[cpu] as number, k.locs) };
  let verdict = 'ok' as Verdict;
  let invalid: string | undefined;
  // Checked every tick: one number, not a scan of every CPU.
  const stormCheck = (): boolean => k.offlineWakesMax > s.limits.stormWakes;
  try {
    w.run({
      ticksMax,
      until: () => {
        // As a core of `run` does at each status poll (every few ticks there).
        if (k.lossWatch !== null) k.confirmLosses(tps);
        if (w.tick >= nextSample) {
          det.sample(w.tick);
          nextSample = w.tick + period;
          if (det.lockups.some((l) => l.kind === 'soft-lockup' || l.kind === 'hung-task')) {
            verdict = 'hang';
            return true;
          }
        }
        if (stormCheck()) {
          verdict = 'storm';
          return true;
        }
        return ipiGoal > 0 && k.ipisHandled >= ipiGoal;
      },
    });
  } catch (e) {
    if (!(e instanceof AssertionError)) throw e;
    verdict = 'invalid';
    invalid = `assertion: ${e.message} (seed ${seed})`;
  }
  const end = w.tick;
  if (verdict === 'storm') {
    for (const [c, cs] of k.cpus.entries()) {
      if (cs.offlineWakes > s.limits.stormWakes) {
        con.printk(end, `cpu ${c}: offline thread woke ${cs.offlineWakes} times (SRR1 wake reason not cleared)`);
      }
    }
  }
  // An IPI unconsumed for the settle time is ignored; when a soft lockup ended the run sooner than
  // that (a low watchdog_thresh), for as long as the lockup took.
  const settleSecs = verdict === 'hang' ? Math.min(s.limits.settleSecs, softLockupSecs(s.detectors)) : s.limits.settleSecs;
  const chk = checker.result(end, Math.floor(settleSecs * tps));
  if (chk.errors.length > 0 && verdict !== 'invalid') {
    verdict = 'invalid';
    invalid = `checker: ${chk.errors[0]}`;
  }
  const stuck = k.cpus
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.waitingFor >= 0)
    .map(({ c, i }) => ({ cpu: i, where: `csd_lock_wait (${c.waitingWhere})`, waiting_for: c.waitingFor, since_seconds: (end - c.waitingSince) / tps }));
  const marks: Record<string, number> = {};
  for (const [m, n] of [...k.marks.counts.entries()].sort()) marks[m] = n;
  const offline: Record<string, number> = {};
  k.cpus.forEach((c, i) => {
    if (c.mode === 'offline') offline[String(i)] = c.offlineWakes;
  });
  const result: SimResult = {
    verdict,
    scenario: s.name,
    seed,
    kernel: patches.label,
    patches: patches.list(),
    ipis_sent: chk.sent,
    ipis_handled: chk.consumed,
    ignored: chk.ignored.map((i) => {
      const o = races?.lastOverwrite(i.sender_cpu, i.target_cpu);
      const withRace = o === undefined ? i : { ...i, interleaving: o.interleaving };
      // Sent as its target went down (the sender still saw it online): it waits for the CPU to
      // come back, as in Linux; not lost by the IPI code.
      return k.cpu(i.target_cpu).online ? withRace : { ...withRace, target_offline: true };
    }),
    lost_found: lostIpis?.found ?? [],
    lockups: det.lockups,
    interrupts: interruptsJson(k),
    ticks: end,
    end_reason: verdict !== 'ok' ? verdict : ipiGoal > 0 && k.ipisHandled >= ipiGoal ? 'ipis' : 'ticks-max',
    emulated_seconds: end / tps,
    wall_ms: 0,
    stuck,
    offline_wakes: offline,
    marks,
    console: con.text(),
    proc_interrupts: procInterrupts(k, interestingCpus(k, stuck, chk.ignored)),
    explanation: '',
  };
  if (invalid !== undefined) result.invalid_reason = invalid;
  result.explanation = explain(result, k, lostIpis, tps);
  opts.onLossWatch?.(k.lossesConfirmed, k.lossesOutstanding());
  result.wall_ms = nowMs() - wallStart;
  return result;
}

function interestingCpus(k: Kernel, stuck: SimResult['stuck'], ignored: IgnoredIpi[]): number[] {
  const set = new Set<number>();
  for (const s of stuck) {
    set.add(s.cpu);
    set.add(s.waiting_for);
  }
  for (const i of ignored) {
    set.add(i.sender_cpu);
    set.add(i.target_cpu);
  }
  if (set.size === 0) for (let c = 0; c < Math.min(8, k.ncpus); c++) set.add(c);
  return [...set].filter((c) => c >= 0).sort((a, b) => a - b).slice(0, 16);
}

function explain(r: SimResult, k: Kernel, lostIpis: LostIpiObserver | null, tps: number): string {
  const out: string[] = [];
  out.push(`${r.scenario} on ${r.kernel}, seed ${r.seed}: ${r.verdict.toUpperCase()} after ${r.emulated_seconds.toFixed(3)} emulated s.`);
  for (const l of r.lockups) {
    if (l.kind === 'hung-task') {
      out.push(`Task ${l.comm}:${l.pid} of CPU ${l.cpu} was blocked for more than ${l.seconds} s (hung task): its waker sleeps until it has run, and it never ran.`);
      if ((r.marks['scheduler_ipi: wake_list empty, nothing to do'] ?? 0) > 0) {
        out.push(
          `Its wake-up queued it on CPU ${l.cpu}'s wake_list and sent a RESCHEDULE, but scheduler_ipi() on CPU ${l.cpu} read the list empty ` +
            "(a stale read: before 9fb1b36ca123 nothing orders the waker's llist_add before its message store, nor the demux's read of the message before the read of the list), " +
            'so the task stays TASK_WAKING, and no later wake-up sends an IPI for it: the list is not empty.',
        );
      }
    } else if (l.kind === 'soft-lockup') {
      out.push(`CPU ${l.cpu} was stuck for ${l.seconds} s (soft lockup)${l.where !== undefined ? ` in ${l.where}` : ''}${l.waitingFor !== undefined ? `, waiting for CPU ${l.waitingFor}` : ''}.`);
    } else {
      out.push(`CPU ${l.cpu}: RCU stall after ${l.seconds} s.`);
    }
  }
  // Waits of less than a second at the end are calls in flight, not what hung: said once, before them.
  const inFlight = r.stuck.every((x) => x.since_seconds < 1);
  if (r.stuck.length > 0 && (r.verdict === 'ok' || inFlight)) out.push(`At the end, ${r.stuck.length} CPU${r.stuck.length === 1 ? ' was' : 's were'} still waiting for a call in flight (not hung):`);
  for (const s of r.stuck) {
    out.push(`CPU ${s.cpu} spins in ${s.where} waiting for CPU ${s.waiting_for} for ${s.since_seconds.toFixed(1)} s.`);
  }
  for (const i of r.ignored.slice(0, 8)) {
    const name = ppcMsgName(i.msg);
    out.push(
      `IPI ${i.ipi_id}: ${name} from CPU ${i.sender_cpu} to CPU ${i.target_cpu} stayed set in ipi_message[${i.target_cpu}] and was never handled` +
        (i.target_offline === true ? ` (sent while CPU ${i.target_cpu} went offline: it waits for the CPU to come back).` : '.'),
    );
  }
  if (r.ignored.length > 8) out.push(`... and ${r.ignored.length - 8} more ignored IPIs.`);
  const dropped = r.marks['kvm-exit: doorbell dropped, host_ipi == 0'] ?? 0;
  if (dropped > 0) out.push(`${dropped} hypervisor doorbells reached a guest with host_ipi == 0 and were taken as guest wake-ups.`);
  const xicsDropped = r.marks[XICS_GUEST_WAKE] ?? 0;
  if (xicsDropped > 0) out.push(`${xicsDropped} XICS IPIs reached a guest with host_ipi == 0 and were taken as guest wake-ups (MFRR reset, EOI).`);
  if (r.lost_found.length > 0) {
    const what = xicsDropped > 0 ? ['interrupt', "host IPI's interrupt"] : ['doorbell', "host IPI's doorbell"];
    out.push(
      `${r.lost_found.length} IPI${r.lost_found.length === 1 ? ' was' : 's were'} lost that way (the ${what[0]} dropped while the message was pending) and found later, ` +
        `when another ${what[1]} made the target demux its messages:`,
    );
    for (const l of r.lost_found.slice(0, 8)) {
      out.push(`IPI ${l.ipi_id}: ${ppcMsgName(l.msg)} from CPU ${l.sender_cpu} to CPU ${l.target_cpu}, lost at ${(l.lost_tick / tps).toFixed(3)} s, found ${((l.found_tick - l.lost_tick) / tps).toFixed(3)} s later.`);
    }
    if (r.lost_found.length > 8) out.push(`... and ${r.lost_found.length - 8} more.`);
  }
  const unfound = (lostIpis?.stillLost() ?? []).filter((l) => !r.ignored.some((i) => i.ipi_id === l.ipi_id));
  if (unfound.length > 0) {
    out.push(
      `${unfound.length === 1 ? 'IPI' : 'IPIs'} ${unfound.map((l) => `${l.ipi_id} (to CPU ${l.target_cpu}, at ${(l.lost_tick / tps).toFixed(3)} s)`).join(', ')} ` +
        `${unfound.length === 1 ? 'was' : 'were'} lost that way too and not found by the end, too late in the run to count as ignored.`,
    );
  }
  for (const [c, n] of Object.entries(r.offline_wakes)) if (n > 1) out.push(`Offline CPU ${c} woke ${n} times.`);
  if (r.invalid_reason) out.push(`Invalid run: ${r.invalid_reason}`);
  void k;
  return out.join('\n');
}

export type { MachineEvent };
