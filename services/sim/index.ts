export { World, SimBus, DEFAULT_BUS_POLICY } from './world.js';
export type { BusPolicy, WorldOptions, InboxRecord, StopReason } from './world.js';
export { runSim } from './run-sim.js';
export type { RunSimOptions, SimResult, Verdict } from './run-sim.js';
export { bisect } from './bisect.js';
export type { BisectOptions, BisectResult, BisectRun } from './bisect.js';
export {
  scenarioSchema, resolveScenario, loadScenarioFile, parseScenarioText, parseScenarioValue, builtinScenarioNames, parseCpuList,
} from './scenario.js';
export type { Scenario, ScenarioInput } from './scenario.js';
export { StressWorkload } from './scenario-workload.js';
