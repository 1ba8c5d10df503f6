export { CoreProcess, StartedCoreProcess } from './core-process.js';
export type { CoreProcessOptions } from './core-process.js';
export { buildRunCore, replayRun } from './run-core.js';
export type { RunReplayResult } from './run-core.js';
export type { RunCore, RunCoreRecord, DrainCpuState } from './run-core.js';
