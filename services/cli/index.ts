export { main, commandList } from './main.js';
export type { Command } from './command.js';
export { parseArgs, formatHelp, parseDurationMs } from './args.js';
