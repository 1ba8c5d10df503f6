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
}

export const DEFAULT_CORE_LOOP: CoreLoopOptions = { sliceSteps: 512, recordDir: '', idleTickUs: 0, aheadTicksMax: 5000 };

/** What a core answers to StopRun, as CoreResults.results_json. */
export interface CoreResultsJson {
  final: unknown;
  /** Record of this generation's inbox (file path when written to recordDir). */
  recordFile: string;
  /** First link sequence number of this generation on each outgoing link, minus one. */
  sendBase: Record<string, number>;
  /** Received link sequence base per source, for the record. */
  transport: Record<string, unknown>;
}
