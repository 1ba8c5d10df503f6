/** The herdtools7 `PPC` litmus front end: parse tests, load them from disk, evaluate outcomes. */
export type {
  LitmusValue,
  Instr,
  SourcedInstr,
  LitmusThread,
  ObsVar,
  CondExpr,
  Quantifier,
  LitmusTest,
} from './ast.js';
export { parseLitmus } from './parse.js';
export { loadLitmusPaths } from './load.js';
export type { LoadedLitmus } from './load.js';
export { observedVars, formatState, evalProp, obsVarName, conditionText } from './outcome.js';
