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
import { buildCore, compareFinals, CoreDriver, ReplayLinks, replayRecord, RECORD_FORMAT, RECORD_VERSION } from '../sim/replay.js';
import type { BuiltCore, CoreRecord, CoreFinal, MachineSpec, ReplayResult, RunRecord, ScenarioSpec } from '../sim/replay.js';
import { InboxCursor, inboxChunks } from '../sim/record-stream.js';

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

const REPLAY_STEP_BUDGET = 1 << 20;

/**
 * Replays a record in this process. A record without drain steps is replayed by sim/replay.ts
 * unchanged; with them, by the same rule plus the workload stop at each core's `drainStep` (the
 * driver is held at that step so that the stop falls between the same two steps as it did live).
 */
/**
 * Bus hops of a replayed run, in ticks: for every input, the step at which its receiver took it
 * minus the step at which its sender sent it (value -> count). What a message cost in the run's
 * own time, to compare with the simulated bus's delays.
 */
export type HopTicks = Map<number, number>;

export interface RunReplayResult extends ReplayResult {
  /** Records of drained runs (the others are replayed by sim/replay.ts, without it). */
  hopTicks?: HopTicks;
}

export function replayRun(rec: RunRecord, observer: MachineObserver | null = null): RunReplayResult {
  const cores = rec.cores as RunCoreRecord[];
  if (!cores.some((c) => c.drainStep !== undefined)) return replayRecord(rec, observer);
  assert(rec.format === RECORD_FORMAT && rec.version === RECORD_VERSION, 'a record as read by readRecordFile');
  const links = new ReplayLinks(rec);
  const finals: CoreFinal[] = [];
  for (const cr of [...cores].sort((a, b) => a.core - b.core)) {
    const id = cr.core;
    let driver: CoreDriver | null = null;
    const built = buildRunCore(rec.spec, id, (dst, msg) => links.sent(id, dst, msg, driver?.step ?? 0), () => driver?.step ?? 0, observer);
    const d = new CoreDriver(built.core);
    driver = d;
    const drainStep = cr.drainStep ?? Infinity;
    assert(drainStep === Infinity || drainStep <= cr.endStep, `core ${id}: drain step ${drainStep} after the end step ${cr.endStep}`);
    let stopped = false;
    const inbox = new InboxCursor(inboxChunks(cr));
    const takeDue = (): void => {
      while (inbox.peekStep() === d.step) {
        const [step, src, seq, msg] = inbox.next();
        links.took(id, src, seq, msg, step);
        d.take(src, msg);
      }
    };
    for (let rounds = 0; ; rounds++) {
      assert(rounds < 1e9, `core ${id}: replay did not end`);
      if (!stopped && d.step >= drainStep) {
        assert(d.step === drainStep, `core ${id}: replay passed the drain step`);
        built.stopWorkload();
        stopped = true;
      }
      takeDue();
      const nextInput = inbox.peekStep();
      const horizon = Math.min(nextInput, stopped ? Infinity : drainStep);
      assert(horizon >= d.step, `core ${id}: record out of step order at entry ${inbox.taken}`);
      const r = d.advance(REPLAY_STEP_BUDGET, horizon, cr.endStep);
      if (r === 'limit') {
        if (!stopped && d.step >= drainStep) {
          built.stopWorkload();
          stopped = true;
        }
        takeDue();
        break;
      }
      if (r === 'idle' && horizon === Infinity) break;
    }
    assert(inbox.done, `core ${id}: ${inbox.rest()} recorded inputs after its end step`);
    finals.push(built.final(cr.endStep));
  }
  return { finals, divergences: links.divergences(), mismatches: compareFinals(rec, finals), hopTicks: links.hopTicks() };
}
