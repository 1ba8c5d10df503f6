export { Controller, StartedController, coreMainPath, CORE_MAIN } from './controller.js';
export type { ControllerOptions, EndPolicy, EndReason, GenerationOptions, GenerationResult, CoreStatus } from './controller.js';
export { runLitmusNats } from './litmus-nats.js';
export type { LitmusNatsOptions } from './litmus-nats.js';
export {
  runScenarioDistributed, scenarioSpecOf, writeRecord, verdictOf, checkIgnored, distTicksPerSecond,
  DIST_TICKS_PER_SECOND_MIN,
} from './run-scenario.js';
export type { RunScenarioOptions, RunVerdict, RunScenarioResult } from './run-scenario.js';
