/**
 * Control subjects between the controller and the core processes of one run. Control traffic is
 * protobuf `ControlMessage`s (control.proto); structured documents inside travel as JSON.
 *
 * - `ipiscope.<run>.ctl.core.<n>`: controller → core n, request/reply (start, status, stop);
 * - `ipiscope.<run>.ctl.controller`: core → controller (registration, heartbeats);
 * - `ipiscope.<run>.faults`: live fault-plan updates, read by every transport.
 */
export function coreControlSubject(runId: string, core: number): string {
  return `ipiscope.${runId}.ctl.core.${core}`;
}

export function controllerSubject(runId: string): string {
  return `ipiscope.${runId}.ctl.controller`;
}

/** Options of a core's loop for one generation (StartRun.options_json). */
export interface CoreLoopOptions {
  /** Steps run before the loop yields to the event loop (bus I/O). */
  sliceSteps: number;
  /** Directory to write this core's inbox record into, or '' for no record. */
  recordDir: string;
  /**
   * The controller does not share this core's file system (adopted cores: another container or
   * host). The core writes its inbox record and its span file into a directory of its own instead
   * (`recordDir` then only says whether to record), and serves them in FileChunk replies.
   */
  filesAtCore?: boolean;
  /**
   * Wall-clock cost of one idle tick (µs): a core with only timers pending (delays, cpu_relax,
   * the decrementer) lets its local time pass no faster than this, so that a spinning waiter does
   * not race through its timeout while the answer crosses the bus. 0: no pacing (litmus).
   */
  idleTickUs: number;
  /**
   * How far (ticks) local time may run ahead of the wall clock since the core last took an input.
   * The pacing only has to stop a waiter from racing through its timeout while its answer crosses
   * the bus; the work an input triggers (an interrupt handler, a spinner's next poll, a thread's
   * think time) must not be paced, or every bus hop on an IPI's critical path costs
   * ticks x idleTickUs of wall time. Bounded: a wait without inputs still advances at most
   * `aheadTicksMax + wall / idleTickUs` ticks, far below any watchdog threshold.
   */
  aheadTicksMax: number;
  /**
   * Wall-clock pace (µs per tick) of every step, busy or idle; 0: off (the idle pacing above).
   * On: all cores follow one clock, tick = (wall time - `epochMs`) / `tickUs`; a core never runs
   * past it, takes each input at the tick it arrived, and sleeps when it has caught up. With a tick
   * of about a third of a bus hop's wall time, a hop costs a few ticks against the workload's
   * hundreds, the proportions of `sim`'s bus. `idleTickUs` and `aheadTicksMax` are then unused.
   */
  tickUs: number;
  /** The paced clock's origin: wall time (ms since the Unix epoch, fractional) of tick 0; 0 while
   * it is held (a paced core does not step until StartClock gives it). */
  epochMs: number;
  /**
   * Paced: a core more than this many ticks behind the clock is behind. Its messages leave late
   * (its peers see longer hops than the clock says), so the time spent behind is reported.
   */
  lagTicksMax: number;
  /**
   * Paced: a core behind for longer than this (ms of wall time, at a stretch) breaks the run's
   * time scale, and the run is invalid. Startup is excused until the core first catches up, within
   * `catchUpMsMax` of the epoch.
   */
  behindMsMax: number;
  catchUpMsMax: number;
  /**
   * Paced: the clock's pace from the drain on (µs per tick; absent or 0: `tickUs`). With the
   * workload stopped nothing new starts, and what the drain waits for (actions under way, the
   * settle steps) is counted in ticks: a faster clock gets there sooner in wall time. Its bus hops
   * cost more ticks, which no judgement of the drained machine counts (a message in flight keeps
   * the drain from settling whatever it costs), and pacing statistics stop at the drain.
   */
  drainTickUs?: number;
}

export const DEFAULT_CORE_LOOP: CoreLoopOptions = {
  sliceSteps: 512, recordDir: '', idleTickUs: 0, aheadTicksMax: 5000, tickUs: 0, epochMs: 0, lagTicksMax: 100, behindMsMax: 2000, catchUpMsMax: 10_000,
};

/** The largest FileChunk a core sends (NATS's default max_payload is 1 MiB). */
export const FILE_CHUNK_MAX = 512 * 1024;

/** The files of a generation a core serves in FileChunk replies (CoreLoopOptions.filesAtCore). */
export type CoreFileKind = 'inbox' | 'trace';

/** What a core answers to StopRun, as CoreResults.results_json. */
export interface CoreResultsJson {
  final: unknown;
  /** Record of this generation's inputs (absent: not recorded). Its inbox file is on the core's
   * file system: with `filesAtCore`, the controller fetches it (FileChunkRequest `inbox`). */
  record?: unknown;
  /** First link sequence number of this generation on each outgoing link, minus one. */
  sendBase: Record<string, number>;
  /** Received link sequence base per source, for the record. */
  transport: Record<string, unknown>;
}

/**
 * A core whose program met bad input (a litmus test that accesses no location, say) reports the
 * error in its status as `INPUT_ERROR_MARK` + the error's text (file, line, detail); whoever reads
 * the generation's invalid reason gives it back to the user as that input error.
 */
export const INPUT_ERROR_MARK = 'input error: ';

/** The input error inside an invalid reason, or undefined. */
export function inputErrorOf(reason: string | undefined): string | undefined {
  if (reason === undefined) return undefined;
  const i = reason.indexOf(INPUT_ERROR_MARK);
  return i < 0 ? undefined : reason.slice(i + INPUT_ERROR_MARK.length);
}
