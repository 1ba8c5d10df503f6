export type { AllowedOptions, AllowedResult, ConditionVerdict } from './power-axiomatic.js';
export {
  allowedStates,
  isStateAllowed,
  checkCondition,
  evalCondition,
  locationAddresses,
  testLocations,
} from './power-axiomatic.js';
export type { Cycle, CycleThread, ComEdge, Dir, GenerateOptions, GeneratedLitmus, PoDecoration } from './litmus-gen.js';
export {
  PO_DECORATIONS,
  canonicalRotation,
  cycleProblem,
  cycleToTest,
  decorationFits,
  diyEdges,
  generateLitmus,
  generateLitmusTests,
  instrText,
  randomCycle,
  toLitmusText,
} from './litmus-gen.js';
export { Rel, EventSet } from './relation.js';
export { IgnoredIpiChecker, TRACKED_IPIS_MAX } from './ignored-ipi.js';
export type { IgnoredIpi, IgnoredIpiOptions, IgnoredIpiResult } from './ignored-ipi.js';
export { HostIpiRaceObserver } from './host-ipi-race.js';
export type { HostIpiInterleaving, HostIpiOverwrite } from './host-ipi-race.js';
export { LostIpiObserver } from './lost-ipi.js';
export type { LostFoundIpi } from './lost-ipi.js';
