/**
 * bisect: walks the ordered patch list between two versions and names the first patch at which
 * the verdict changes (from the good version's verdict), with every run it made.
 */
import { UsageError } from '../stdx/index.js';
import { PATCHES, isVersionName, patchesOfVersion, versionNames } from '../kernel/index.js';
import type { Patch } from '../kernel/index.js';
import type { Scenario } from './scenario.js';
import { resolveMachine } from '../machine/topology.js';
import type { SimResult, Verdict } from './run-sim.js';
import { runSim } from './run-sim.js';

export interface BisectOptions {
  good: string;
  bad: string;
  seeds: number[];
  ticksMax?: number;
}

export interface BisectRun {
  patches: string[];
  seed: number;
  verdict: Verdict;
  wall_ms: number;
}

export interface BisectResult {
  first: Patch | null;
  /** Patches kept at every step because the machine needs them to boot and send IPIs at all. */
  platform: Patch[];
  goodVerdict: Verdict;
  badVerdict: Verdict;
  runs: BisectRun[];
}

/** The worst verdict over the seeds (a set that hangs for any seed is a hanging set). */
function verdictOf(s: Scenario, patches: string[], o: BisectOptions, runs: BisectRun[]): Verdict {
  let worst: Verdict = 'ok';
  for (const seed of o.seeds) {
    const r: SimResult = runSim(s, { patches, seed, ticksMax: o.ticksMax });
    runs.push({ patches, seed, verdict: r.verdict, wall_ms: r.wall_ms });
    if (r.verdict !== 'ok') {
      worst = r.verdict;
      break;
    }
  }
  return worst;
}

/**
 * The platform enablement a machine needs at every bisect step, as when bisecting on real
 * hardware: a POWER9 box is bisected with its POWER9 doorbell support (and what that support is
 * built on) carried along, or the older kernels would not send host IPIs the way it does.
 */
export function platformPatches(s: Scenario): string[] {
  return resolveMachine(s.machine).cpuModel === 'power9' ? ['b866cc2199d6', 'b87ac0218355', '6b3edefefa67'] : [];
}

export function bisect(s: Scenario, o: BisectOptions): BisectResult {
  for (const [flag, v] of [['--good', o.good], ['--bad', o.bad]] as const) {
    if (!isVersionName(v)) throw new UsageError(`${flag} ${v} is not a kernel version; give one of ${versionNames().join(', ')}`);
  }
  if (!isVersionName(o.good) || !isVersionName(o.bad)) throw new UsageError('bisect: --good and --bad must be kernel versions');
  const platform = platformPatches(s);
  const withPlatform = (cs: string[]): string[] => PATCHES.map((p) => p.commit as string).filter((c) => cs.includes(c) || platform.includes(c));
  const good = withPlatform(patchesOfVersion(o.good).map((p) => p.commit));
  const bad = withPlatform(patchesOfVersion(o.bad).map((p) => p.commit));
  const goodSet = new Set<string>(good);
  const badSet = new Set<string>(bad);
  // The patches that differ, in date order; walking from good towards bad adds (or removes) them.
  const forward = bad.length >= good.length;
  const diff = PATCHES.filter((p) => goodSet.has(p.commit) !== badSet.has(p.commit));
  const runs: BisectRun[] = [];
  const platformList = PATCHES.filter((p) => platform.includes(p.commit));
  const goodVerdict = verdictOf(s, good, o, runs);
  let current = [...good];
  const steps = forward ? diff : [...diff].reverse();
  for (const p of steps) {
    current = forward ? [...current, p.commit] : current.filter((c) => c !== p.commit);
    const v = verdictOf(s, current, o, runs);
    if (v !== goodVerdict) return { first: p, platform: platformList, goodVerdict, badVerdict: v, runs };
  }
  return { first: null, platform: platformList, goodVerdict, badVerdict: goodVerdict, runs };
}
