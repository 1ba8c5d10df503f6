/**
 * The kernel instance: the memory layout of the kernel's shared data on the machine, the
 * per-CPU state that only its own CPU touches (kept outside emulated memory), the patch set, and
 * the bookkeeping the detectors, `/proc/interrupts` and the reports read.
 *
 * Layout (each location a word, homed where Linux allocates it):
 * - `ipi_message[c]` (DEFINE_PER_CPU_SHARED_ALIGNED): one byte lane per message, home = c's core.
 * - `host_ipi[c]` (the PACA's kvm_hstate.host_ipi): per-CPU PACA data, home = c's core. The
 *   sender's message and host_ipi stores may still reach their homes in either order (the
 *   machine's seeded store delay), which POWER allows (the R+po pattern of 3a83f677a6ee).
 * - `call_single_queue[c]`, `wake_list[c]`, `cpu_online[c]`: home = c's core.
 * - csd (flags, llist next, func/info word) of sender s for target t: s's core (cfd is per-CPU).
 * - tasks (state, wake_entry.next): home = the core of the CPU the task belongs to.
 */
import { assert } from '../stdx/index.js';
import { LocationTable, laneOf } from '../machine/index.js';
import type { Topology } from '../machine/index.js';
import type { PatchId, PatchSet } from './patches.js';

/** IPI message numbers (byte lanes of ipi_message). v3.5 calls lane 2 CALL_FUNC_SINGLE. */
export const PPC_MSG = { CALL_FUNCTION: 0, RESCHEDULE: 1, TICK_BROADCAST: 2, NMI_IPI: 3 } as const;
export type PpcMsg = (typeof PPC_MSG)[keyof typeof PPC_MSG];
export const PPC_MSG_NAMES = ['CALL_FUNCTION', 'RESCHEDULE', 'TICK_BROADCAST', 'NMI_IPI'] as const;

/** The name of IPI message `msg` (its byte lane of ipi_message), as the verdicts print it. */
export function ppcMsgName(msg: number): string {
  return PPC_MSG_NAMES[msg as 0 | 1 | 2 | 3] ?? `msg ${msg}`;
}

/** The message lanes of `among` (a bit per message) whose byte is set in ipi_message word `word`. */
function setLanes(word: number, among: number): number {
  let lanes = 0;
  for (let m = 0; m < PPC_MSG_NAMES.length; m++) if ((among & (1 << m)) !== 0 && laneOf(word, m) !== 0) lanes |= 1 << m;
  return lanes;
}

export const CSD_FLAG_LOCK = 1;
export const CSD_FLAG_SYNCHRONOUS = 2;

export const TASK_RUNNING = 0;
export const TASK_INTERRUPTIBLE = 1;
export const TASK_UNINTERRUPTIBLE = 2;
export const TASK_WAKING = 256;

/** paca->irq_happened bits (lazy interrupt state). */
export const PACA_IRQ_DBELL = 0x02;
export const PACA_IRQ_EE = 0x04;
export const PACA_IRQ_DEC = 0x08;

/** Where a CPU's software is, for reports (the frame a kernel engineer would read in xmon). */
export type CpuMode = 'host' | 'guest' | 'idle' | 'offline';

/** Optional ablations: deliberately unfaithful switches that expose a race (named, never default). */
export interface Ablations {
  /**
   * Make the demux's first read of the message word unfenced (xchg_relaxed instead of the fully
   * ordered xchg), as kernel-ipi-detail.md §11.4 requires for the commit's second interleaving.
   */
  demuxReadRelaxed?: boolean;
}

export interface CsdNode {
  id: number;
  sender: number;
  target: number;
  flags: number;
  next: number;
  data: number;
}

export interface TaskNode {
  id: number;
  comm: string;
  pid: number;
  cpu: number;
  state: number;
  next: number;
  /** p->pi_lock (serialises try_to_wake_up: a task is queued on one wake_list at most once). */
  piLock: number;
  /** Kernel bookkeeping (not memory): tick of the last state change, for hung-task. */
  sinceTick: number;
}

export interface CpuState {
  mode: CpuMode;
  irqHappened: number;
  /** Set by the guest-exit path when the host must run (a host IPI or a host timer). */
  guestExit: '' | 'dbell' | 'xics' | 'timer';
  /** Host runqueue (tasks woken onto this CPU, activated by scheduler_ipi). */
  runqueue: TaskNode[];
  /** Current task comm:pid for detector lines. */
  comm: string;
  pid: number;
  /** Tick of the last schedule (soft-lockup watchdog touch). */
  touchTick: number;
  /** Non-empty while spinning in csd_lock_wait: the CPU waited for. */
  waitingFor: number;
  waitingSince: number;
  waitingWhere: string;
  /** Kernel bookkeeping: is this cpu online (the memory copy is cpu_online[c]). */
  online: boolean;
  offlineWakes: number;
  /** A task on this CPU sleeping uninterruptibly for another task (hung-task detector). */
  blockedOn: TaskNode | null;
  blockedSince: number;
  /** Sequence of IPIs this CPU sent (ipi_id = "<cpu>:<seq>"). */
  ipiSeq: number;
  /** Kernel bookkeeping: demux passes begun on this CPU (the loss watch's "was it read since"). */
  demuxPasses: number;
  /** Cross-call data the IPI handler runs (func ids by csd id; JS side, read after the csd). */
  irq: IrqStat;
}

export interface IrqStat {
  timer_irqs_event: number;
  timer_irqs_others: number;
  spurious_irqs: number;
  pmu_irqs: number;
  mce_exceptions: number;
  hmi_exceptions: number;
  sreset_irqs: number;
  doorbell_irqs: number;
  /** XICS "IPI" irq (per-irq line, not an arch line). */
  xics_ipi: number;
}

export interface KernelOptions {
  topology: Topology;
  patches: PatchSet;
  ablations?: Ablations;
  /** Which (sender, target) pairs may cross-call; one csd each. */
  csdPairs: Array<[number, number]>;
  /** Tasks to create: comm and home cpu. */
  tasks: Array<{ comm: string; cpu: number }>;
  /** CPUs running the KVM-HV host (KVM module loaded: host_ipi is meaningful). */
  kvm: boolean;
}

/** Counts of named model paths (TigerBeetle-style marks): tests assert a path was taken. */
export class Marks {
  readonly counts = new Map<string, number>();
  hit(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }
  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }
}

export class Kernel {
  readonly topo: Topology;
  readonly k: PatchSet;
  readonly ablations: Ablations;
  readonly locs = new LocationTable();
  readonly ncpus: number;
  readonly kvm: boolean;
  readonly ipiMessage: number[] = [];
  readonly hostIpi: number[] = [];
  readonly callSingleQueue: number[] = [];
  readonly wakeList: number[] = [];
  readonly cpuOnline: number[] = [];
  readonly cpus: CpuState[] = [];
  /** Node ids 1..: csds then tasks (0 is NULL in the lists). */
  readonly csds = new Map<string, CsdNode>();
  readonly csdStack: CsdNode[] = [];
  readonly nodes: Array<CsdNode | TaskNode | null> = [null];
  readonly tasks: TaskNode[] = [];
  readonly marks = new Marks();
  /** Totals the verdict reports (kernel bookkeeping; the checker keeps the ground truth). */
  ipisSent = 0;
  ipisHandled = 0;
  /** The most wake-ups of one offline CPU (`CpuState.offlineWakes`), for the storm check. */
  offlineWakesMax = 0;
  /**
   * The live loss watch (distributed runs; see `noteGuestIpiDrop`): how to read the clock and
   * a CPU's ipi_message word at its home, without a machine op. Unset: nothing is watched.
   */
  lossWatch: { now: () => number; messageWord: (cpu: number) => number } | null = null;
  /** Doorbells dropped with message bytes pending at the home, not yet confirmed or cleared. */
  private readonly dropsPending: Array<{ cpu: number; tick: number; lanes: number; demuxAt: number }> = [];
  /** Confirmed losses, in order: the CPU, its pending lanes (bit per message) and the drop's tick
   * (`demuxAt`: the CPU's demux passes then; a later pass found them). */
  readonly lossesConfirmed: Array<{ cpu: number; lanes: number; tick: number; demuxAt: number }> = [];

  /**
   * A vCPU thread in a guest took a host IPI as a guest wake-up because it read host_ipi == 0:
   * kvmppc_guest_exit_h_doorbell dropped the doorbell, or kvmppc_read_one_intr reset the MFRR of an
   * XICS IPI and went back into the guest (bookkeeping only, no machine op). With message bytes
   * set in the CPU's ipi_message word at its home, an IPI may have lost its interrupt: the 2019
   * race. It is confirmed by `confirmLosses` if no demux has run on the CPU and those bytes are
   * still set a while later (the fixed kernel can drop a doorbell while a message whose own
   * doorbell is still on its way waits; that one is read within a few hops).
   */
  noteGuestIpiDrop(cpu: number): void {
    const w = this.lossWatch;
    if (w === null) return;
    const lanes = setLanes(w.messageWord(cpu), 0b1111);
    if (lanes === 0) return;
    this.dropsPending.push({ cpu, tick: w.now(), lanes, demuxAt: this.cpu(cpu).demuxPasses });
  }

  /** How long (s of the scenario's clock) a drop's lanes must stay pending and unread to be a loss:
   * a doorbell still on its way takes tens of ticks; an IPI is handled in microseconds on hardware. */
  static readonly LOSS_CONFIRM_SECS = 0.5;

  /** Moves drops whose lanes stayed pending, unread, for LOSS_CONFIRM_SECS of a clock of
   * `ticksPerSecond` to `lossesConfirmed`. */
  confirmLosses(ticksPerSecond: number): void {
    const w = this.lossWatch;
    if (w === null || this.dropsPending.length === 0) return;
    const afterTicks = Math.round(Kernel.LOSS_CONFIRM_SECS * ticksPerSecond);
    const now = w.now();
    let kept = 0;
    for (const d of this.dropsPending) {
      if (this.cpu(d.cpu).demuxPasses !== d.demuxAt) continue;
      if (now - d.tick < afterTicks) {
        this.dropsPending[kept++] = d;
        continue;
      }
      const lanes = setLanes(w.messageWord(d.cpu), d.lanes);
      if (lanes !== 0) this.lossesConfirmed.push({ cpu: d.cpu, lanes, tick: d.tick, demuxAt: d.demuxAt });
    }
    this.dropsPending.length = kept;
  }

  /** The confirmed losses no demux has found yet (still lost now). */
  lossesOutstanding(): Array<{ cpu: number; lanes: number; tick: number }> {
    return this.lossesConfirmed.filter((l) => this.cpu(l.cpu).demuxPasses === l.demuxAt);
  }

  constructor(opts: KernelOptions) {
    this.topo = opts.topology;
    this.k = opts.patches;
    this.ablations = opts.ablations ?? {};
    this.kvm = opts.kvm;
    const t = this.topo;
    const tpc = t.threadsPerCore;
    this.ncpus = t.sockets * t.coresPerSocket * tpc;
    const coreOf = (c: number): number => Math.floor(c / tpc);
    for (let c = 0; c < this.ncpus; c++) {
      this.ipiMessage.push(this.locs.add(`ipi_message[${c}]`, coreOf(c)));
      this.hostIpi.push(this.locs.add(`paca[${c}].kvm_hstate.host_ipi`, coreOf(c)));
      this.callSingleQueue.push(this.locs.add(`call_single_queue[${c}]`, coreOf(c)));
      this.wakeList.push(this.locs.add(`rq[${c}].wake_list`, coreOf(c)));
      this.cpuOnline.push(this.locs.add(`cpu_online[${c}]`, coreOf(c), 1));
      this.cpus.push({
        mode: 'host', irqHappened: 0, guestExit: '', runqueue: [], comm: `swapper/${c}`, pid: 0,
        touchTick: 0, waitingFor: -1, waitingSince: 0, waitingWhere: '', online: true, offlineWakes: 0, blockedOn: null, blockedSince: 0, ipiSeq: 0, demuxPasses: 0,
        irq: {
          timer_irqs_event: 0, timer_irqs_others: 0, spurious_irqs: 0, pmu_irqs: 0, mce_exceptions: 0,
          hmi_exceptions: 0, sreset_irqs: 0, doorbell_irqs: 0, xics_ipi: 0,
        },
      });
    }
    const addCsd = (s: number, tgt: number, name: string): CsdNode => {
      const id = this.nodes.length;
      const n: CsdNode = {
        id, sender: s, target: tgt,
        flags: this.locs.add(`${name}.flags`, coreOf(s)),
        next: this.locs.add(`${name}.llist.next`, coreOf(s)),
        data: this.locs.add(`${name}.func_info`, coreOf(s)),
      };
      this.nodes.push(n);
      return n;
    };
    for (const [s, tgt] of opts.csdPairs) {
      const key = `${s}>${tgt}`;
      if (this.csds.has(key)) continue;
      assert(s !== tgt, () => `csd pair ${key}: a CPU does not cross-call itself`);
      this.csds.set(key, addCsd(s, tgt, `cfd[${s}].csd[${tgt}]`));
    }
    for (let c = 0; c < this.ncpus; c++) this.csdStack.push(addCsd(c, -1, `csd_stack[${c}]`));
    let pid = 700;
    for (const tk of opts.tasks) {
      const id = this.nodes.length;
      const n: TaskNode = {
        id, comm: tk.comm, pid: pid++, cpu: tk.cpu,
        state: this.locs.add(`task[${pid}].state`, coreOf(tk.cpu), TASK_INTERRUPTIBLE),
        next: this.locs.add(`task[${pid}].wake_entry.next`, coreOf(tk.cpu)),
        piLock: this.locs.add(`task[${pid}].pi_lock`, coreOf(tk.cpu)),
        sinceTick: 0,
      };
      this.nodes.push(n);
      this.tasks.push(n);
    }
  }

  has(commit: PatchId): boolean {
    return this.k.has(commit);
  }

  csd(sender: number, target: number): CsdNode {
    const n = this.csds.get(`${sender}>${target}`);
    assert(n !== undefined, () => `no csd for ${sender} -> ${target}: add the pair to the workload plan`);
    return n;
  }

  node(id: number): CsdNode | TaskNode {
    const n = this.nodes[id];
    assert(n !== undefined && n !== null, () => `list node ${id} does not exist`);
    return n;
  }

  cpu(c: number): CpuState {
    const s = this.cpus[c];
    assert(s !== undefined, () => `cpu ${c} out of range`);
    return s;
  }

  coreOf(c: number): number {
    return Math.floor(c / this.topo.threadsPerCore);
  }

  siblings(a: number, b: number): boolean {
    return this.coreOf(a) === this.coreOf(b);
  }
}
