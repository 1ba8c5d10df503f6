export { Controller, StartedController, coreMainPath, CORE_MAIN, DRAIN_SETTLE_STEPS, DRAIN_TIMEOUT_MS } from './controller.js';
export type { ControllerOptions, EndPolicy, EndReason, GenerationOptions, GenerationResult, CoreStatus, DrainOutcome, HangWait } from './controller.js';
export { runLitmusNats } from './litmus-nats.js';
export type { LitmusNatsOptions } from './litmus-nats.js';
export {
  runScenarioDistributed, scenarioSpecOf, writeRecord, verdictOf, checkIgnored, judgeIgnored, distTicksPerSecond,
  DIST_TICKS_PER_SECOND_MIN,
} from './run-scenario.js';
export type { RunScenarioOptions, RunVerdict, RunScenarioResult } from './run-scenario.js';
