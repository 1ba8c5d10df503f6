import type { Bench } from './figures.js';
import { simBenches } from './sim-bench.js';
import { distBenches } from './dist-bench.js';
import { traceBenches } from './trace-bench.js';

export type { Bench, Figure } from './figures.js';

/** Every benchmark `ipiscope bench` knows, in the order they run. */
export function allBenches(): Bench[] {
  return [...simBenches, ...traceBenches, ...distBenches];
}
