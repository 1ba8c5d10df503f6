/**
 * Staggered starts: a machine option that starts CPU c's thread c x N ticks late, and the litmus
 * swarm that draws it in half the runs, so that outcomes hardware shows but which need the threads
 * lined up in data-flow order (WRC, IRIW) come up at the default run count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocationTable } from '../../../services/machine/index.js';
import type { Program, ThreadSoftware } from '../../../services/machine/index.js';
import { World } from '../../../services/sim/world.js';
import { Random } from '../../../services/stdx/index.js';
import { parseLitmus } from '../../../services/litmus/index.js';
import { runLitmus, swarmDraw } from '../../../services/litmus/run.js';

function firstTicks(stagger: number, skew: number, seed = 7): number[] {
  const first: number[] = [];
  const sw = (cpu: number): ThreadSoftware => ({
    main: function* (): Program {
      first[cpu] = (yield { k: 'now' }) as number;
    },
  });
  new World({
    topology: { name: 't', cpuModel: 'power9', sockets: 1, coresPerSocket: 4, threadsPerCore: 1 },
    locations: new LocationTable(),
    seed,
    software: sw,
    startSkewTicksMax: skew,
    startStaggerTicks: stagger,
  }).run({ ticksMax: 10_000 });
  return first;
}

test('a stagger of N ticks starts CPU c at c x N, on top of the skew it would have drawn anyway', () => {
  assert.deepEqual(firstTicks(25, 0), [0, 25, 50, 75]);
  const skewed = firstTicks(0, 40);
  const both = firstTicks(25, 40);
  assert.deepEqual(both, skewed.map((t, c) => t + 25 * c));
  assert.ok(skewed.some((t) => t > 0), 'the skew drew something');
  assert.throws(() => firstTicks(-1, 0), /start stagger -1/);
});

test('the swarm staggers half the runs by half a scale or a scale, the same for the same run seed', () => {
  const seen = new Map<number, number>();
  for (let s = 0; s < 400; s++) {
    const d = swarmDraw(new Random(s, 'swarm'));
    const scale = d.policy.applyDelayTicksMax;
    const k = d.startStaggerTicks / scale;
    assert.ok([0, 0.5, 1].includes(k), `stagger ${d.startStaggerTicks} at scale ${scale}`);
    seen.set(k, (seen.get(k) ?? 0) + 1);
    assert.deepEqual(swarmDraw(new Random(s, 'swarm')), d);
  }
  assert.ok((seen.get(0) ?? 0) > 150 && (seen.get(0) ?? 0) < 250, `unstaggered runs: ${seen.get(0)} of 400`);
  assert.ok((seen.get(0.5) ?? 0) > 50 && (seen.get(1) ?? 0) > 50);
});

test('WRC+addrs and IRIW+addrs (seen on hardware) show their outcome at the default 1,000 runs, seeds 1-5', () => {
  const dir = join(process.cwd(), 'test', 'litmus');
  for (const name of ['WRC+addrs', 'IRIW+addrs']) {
    const t = parseLitmus(readFileSync(join(dir, `${name}.litmus`), 'utf8'), `${name}.litmus`);
    for (let seed = 1; seed <= 5; seed++) {
      const r = runLitmus(t, { runs: 1000, seed, placement: 'cores' });
      assert.equal(r.invalid, 0);
      assert.ok(r.hits > 0, `${name}, seed ${seed}: no hit in 1,000 runs (${JSON.stringify(r.outcomes)})`);
    }
  }
});
