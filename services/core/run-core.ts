/**
 * A core of a distributed run whose workload can be stopped (the drain before a verdict), and the
 * replay of such runs.
 *
 * Why this exists: a distributed run is judged after a drain. When the controller decides that the
 * run is over (duration, IPI goal, suspected hang), every core stops its workload (no new actions,
 * so no new IPIs; actions under way finish), the cores keep stepping until the bus is quiet, and
 * only then is the ignored set judged. The stop must replay exactly, so each core takes it at a
 * local step, recorded as `drainStep`: every `Core.step(t)` with t < drainStep saw the workload
 * running, every one with t >= drainStep saw it stopped (the workload is only consulted inside a
 * step, never when an input is taken).
 *
 * The core itself is `buildCore`'s (sim/replay.ts), whose scenario cores expose their workload;
 * litmus cores have no workload to stop.
 */
import { assert } from '../stdx/index.js';
import type { CoreMsg, MachineObserver } from '../machine/index.js';
import { PACA_IRQ_DBELL } from '../kernel/kernel.js';
import { buildCore, compareFinals, replayCores, replayRecord } from '../sim/replay.js';
import type { BuiltCore, CoreRecord, MachineSpec, ReplayResult, RunRecord, ScenarioSpec } from '../sim/replay.js';

/** A built core whose workload can be stopped. */
export interface RunCore extends BuiltCore {
  /** Stops the workload from the next step on (idempotent; a no-op for litmus cores). */
  stopWorkload(): void;
  /** Per CPU of this core, what the drain needs to know (scenario cores; [] for litmus). */
  drainState(): DrainCpuState[];
}

/**
 * What a CPU holds that could still lead to an IPI being handled. A CPU whose message word is set
 * while nothing of this is true, on a quiet machine whose workload is stopped, will never run the
 * demux again: its IPIs are lost, not late.
 */
export interface DrainCpuState {
  cpu: number;
  /** ipi_message[cpu] at its home (this core), as a word of byte lanes. */
  messageWord: number;
  /** A doorbell latched, an XICS interrupt presented or requested (MFRR), or a doorbell the
   * guest-exit path owes the host (irq_happened, guestExit). */
  irqPending: boolean;
  /** The thread is inside an interrupt handler (a demux may be under way). */
  inIrq: boolean;
}

/** A core record of a run that drained: the step at which the workload stopped. */
export interface RunCoreRecord extends CoreRecord {
  drainStep?: number;
}

/** Builds core `id` of `spec`, as `buildCore` does, with a workload that can be stopped. */
export function buildRunCore(
  spec: MachineSpec,
  id: number,
  send: (dst: number, msg: CoreMsg) => void,
  nowStep: () => number,
  observer: MachineObserver | null = null,
): RunCore {
  if (spec.kind === 'litmus') return { ...buildCore(spec, id, send, nowStep, observer), stopWorkload: () => undefined, drainState: () => [] };
  return buildStoppableScenarioCore(spec, id, send, nowStep, observer);
}

function buildStoppableScenarioCore(
  spec: ScenarioSpec,
  id: number,
  send: (dst: number, msg: CoreMsg) => void,
  nowStep: () => number,
  observer: MachineObserver | null,
): RunCore {
  const built = buildCore(spec, id, send, nowStep, observer);
  const { core, kernel: k, workload: wl } = built;
  assert(k !== undefined && wl !== undefined, 'a scenario core has a kernel and a workload');
  return {
    ...built,
    stopWorkload: () => {
      wl.stopped = true;
    },
    drainState: () =>
      core.threads.map((th) => {
        const cs = k.cpu(th.cpu);
        const irqPending =
          th.hdbell || th.pdbell || th.xisr !== 0 || th.mfrr !== 0xff ||
          (cs.irqHappened & PACA_IRQ_DBELL) !== 0 || cs.guestExit === 'dbell' || cs.guestExit === 'xics';
        return {
          cpu: th.cpu,
          messageWord: core.homeValue(k.ipiMessage[th.cpu] as number),
          irqPending,
          inIrq: th.frames.some((f) => f.source !== null),
        };
      }),
  };
}

/**
 * Bus hops of a replayed run, in ticks: for every input, the step at which its receiver took it
 * minus the step at which its sender sent it (value -> count). What a message cost in the run's
 * own time, to compare with the simulated bus's delays.
 */
export type HopTicks = Map<number, number>;

export interface RunReplayResult extends ReplayResult {
  /** Records of drained runs (the others are replayed by sim/replay.ts, without it): the bus hops,
   * computed when asked for; up to the drain, or (`toDrain` false) every message's, as records made
   * before the drain ran a clock of its own counted them. */
  hopTicks?: (toDrain: boolean) => HopTicks;
}

/**
 * Replays a record in this process. A record without drain steps is replayed by sim/replay.ts
 * unchanged; with them, by the same loop (`replayCores`), which stops each core's workload at its
 * `drainStep`.
 */
export function replayRun(rec: RunRecord, observer: MachineObserver | null = null): RunReplayResult {
  const cores = rec.cores as RunCoreRecord[];
  if (!cores.some((c) => c.drainStep !== undefined)) return replayRecord(rec, observer);
  const { finals, links } = replayCores(rec, (cr, id, send, nowStep) => {
    const built = buildRunCore(rec.spec, id, send, nowStep, observer);
    return { built, stopWorkload: () => built.stopWorkload(), drainStep: (cr as RunCoreRecord).drainStep ?? Infinity };
  });
  return { finals, divergences: links.divergences(), mismatches: compareFinals(rec, finals), hopTicks: (toDrain) => links.hopTicks(toDrain) };
}
