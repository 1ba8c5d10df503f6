export { CoreProcess, StartedCoreProcess } from './core-process.js';
export type { CoreProcessOptions } from './core-process.js';
