/**
 * The memory contract of DESIGN.md §3, rule by rule, on small programs run directly on the
 * machine. Each test names the rule, runs it over many seeds, and checks the property from the
 * machine's own event stream or final state; seeds are in the failure messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocationTable } from '../../../services/machine/index.js';
import type { MachineEvent, Program, ThreadSoftware, Topology, MemoryPolicy } from '../../../services/machine/index.js';
import { World } from '../../../services/sim/world.js';

const relaxed: MemoryPolicy = {
  applyImmediateProb: 0.2, applyDelayTicksMax: 40, applyTailProb: 0.1, applyTailTicksMax: 300,
  stallProb: 0.2, stallTicksMax: 8, storeDelayProb: 0.2, storeDelayTicksMax: 30, earlyLoadProb: 0, earlyLoadTicksMax: 0,
  evictIdleTicks: 0,
};

function topo(cores: number, tpc: number, model: 'power8' | 'power9' = 'power9'): Topology {
  return { name: 't', cpuModel: model, sockets: 1, coresPerSocket: cores, threadsPerCore: tpc };
}

interface Run {
  world: World;
  events: MachineEvent[];
  locs: LocationTable;
}

function run(t: Topology, locNames: [string, number][], sw: Record<number, ThreadSoftware>, seed: number, broadcast = false): Run {
  const locs = new LocationTable();
  for (const [n, home] of locNames) locs.add(n, home, 0, broadcast);
  const events: MachineEvent[] = [];
  const world = new World({
    topology: t, locations: locs, seed, policy: relaxed,
    software: (cpu) => sw[cpu] ?? null,
    observer: { event: (e) => events.push(e) },
    startSkewTicksMax: 20,
  });
  const r = world.run({ ticksMax: 5_000_000 });
  assert.equal(r.reason, 'finished', `seed ${seed}: run did not finish (${r.reason})`);
  return { world, events, locs };
}

const prog = (f: () => Program): ThreadSoftware => ({ main: f });

test('coherence: no thread ever reads a location backwards in its coherence order', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const sw: Record<number, ThreadSoftware> = {};
    for (let cpu = 0; cpu < 6; cpu++) {
      sw[cpu] = prog(function* () {
        for (let i = 0; i < 30; i++) {
          if (i % 3 === cpu % 3) yield { k: 'st', loc: 0, value: cpu * 1000 + i };
          yield { k: 'ld', loc: 0 };
        }
      });
    }
    const { events } = run(topo(3, 2), [['x', 1]], sw, seed, seed % 2 === 0);
    const last = new Map<number, number>();
    let loads = 0;
    for (const e of events) {
      if (e.e !== 'load' || e.own) continue;
      loads++;
      const prev = last.get(e.cpu) ?? 0;
      assert.ok(e.version >= prev, `seed ${seed}: cpu ${e.cpu} read version ${e.version} after ${prev}`);
      last.set(e.cpu, e.version);
    }
    assert.ok(loads > 0);
  }
});

test('coherence: one total order of writes per location, the same at every thread', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const sw: Record<number, ThreadSoftware> = {};
    for (let cpu = 0; cpu < 4; cpu++) {
      sw[cpu] = prog(function* () {
        for (let i = 0; i < 10; i++) yield { k: 'st', loc: 0, value: cpu * 100 + i };
        for (let i = 0; i < 60; i++) yield { k: 'ld', loc: 0 };
      });
    }
    const { events } = run(topo(4, 1), [['x', 2]], sw, seed);
    const valueOf = new Map<number, number>();
    for (const e of events) if (e.e === 'version') valueOf.set(e.version, e.value);
    assert.equal(valueOf.size, 40, `seed ${seed}: every write gets exactly one version`);
    for (const e of events) {
      if (e.e === 'load' && !e.own) assert.equal(e.value, valueOf.get(e.version) ?? 0, `seed ${seed}: value/version mismatch`);
    }
    // Each thread's own stores get increasing versions (po-order of same-location stores).
    const ownVersions = new Map<number, number[]>();
    const cpuOfWid = new Map<number, number>();
    for (const e of events) if (e.e === 'store') cpuOfWid.set(e.wid, e.cpu);
    for (const e of events) {
      if (e.e !== 'version') continue;
      const cpu = cpuOfWid.get(e.wid) as number;
      const a = ownVersions.get(cpu) ?? [];
      a.push(e.version);
      ownVersions.set(cpu, a);
    }
    for (const [cpu, vs] of ownVersions) {
      assert.deepEqual(vs, [...vs].sort((a, b) => a - b), `seed ${seed}: cpu ${cpu}'s stores out of program order`);
    }
  }
});

test('store forwarding: a thread reads its own latest store at once', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const got: number[] = [];
    const sw = {
      0: prog(function* () {
        for (let i = 1; i <= 20; i++) {
          yield { k: 'st', loc: 0, value: i };
          got.push(yield { k: 'ld', loc: 0 });
        }
      }),
    };
    run(topo(2, 1), [['x', 1]], sw, seed);
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i + 1), `seed ${seed}`);
  }
});

test('non-multi-copy atomicity: two readers see two independent writes in opposite orders', () => {
  let disagree = 0;
  for (let seed = 1; seed <= 400 && disagree === 0; seed++) {
    const seen: number[][] = [[], []];
    const sw: Record<number, ThreadSoftware> = {
      0: prog(function* () { yield { k: 'st', loc: 0, value: 1 }; }),
      1: prog(function* () { yield { k: 'st', loc: 1, value: 1 }; }),
    };
    for (const [cpu, a, b] of [[2, 0, 1], [3, 1, 0]] as const) {
      sw[cpu] = prog(function* () {
        for (let i = 0; i < 200; i++) {
          const x = yield { k: 'ld', loc: a };
          const y = yield { k: 'ld', loc: b };
          if (x === 1 && y === 0) seen[cpu - 2]!.push(1);
        }
      });
    }
    run(topo(4, 1), [['x', 0], ['y', 1]], sw, seed, true);
    if ((seen[0] as number[]).length > 0 && (seen[1] as number[]).length > 0) disagree++;
  }
  assert.ok(disagree > 0, 'IRIW-style disagreement never happened in 400 seeds');
});

test('sync: once it completes, every thread sees what the syncing thread had seen and stored', () => {
  for (let seed = 1; seed <= 30; seed++) {
    let world: World | null = null;
    const checks: [number, number][] = [];
    const sw: Record<number, ThreadSoftware> = {
      0: prog(function* () {
        yield { k: 'st', loc: 0, value: 7 };
        yield { k: 'st', loc: 1, value: 9 };
        yield { k: 'sync' };
        for (let cpu = 0; cpu < 6; cpu++) {
          const core = (world as World).cores[Math.floor(cpu / 2)]!;
          checks.push([core.viewOf(cpu, 0).value, core.viewOf(cpu, 1).value]);
        }
      }),
    };
    const locs = new LocationTable();
    locs.add('x', 1, 0, true);
    locs.add('y', 2, 0, true);
    world = new World({ topology: topo(3, 2), locations: locs, seed, policy: relaxed, software: (c) => sw[c] ?? null });
    world.run({ ticksMax: 1_000_000 });
    assert.equal(checks.length, 6);
    for (const [x, y] of checks) assert.deepEqual([x, y], [7, 9], `seed ${seed}`);
  }
});

test('lwsync: a write never becomes visible before the writes ordered before it (cumulatively)', () => {
  for (let seed = 1; seed <= 60; seed++) {
    const bad: string[] = [];
    const sw: Record<number, ThreadSoftware> = {
      0: prog(function* () { yield { k: 'st', loc: 0, value: 1 }; }),
      1: prog(function* () {
        let x = 0;
        for (let i = 0; i < 100 && x === 0; i++) x = yield { k: 'ld', loc: 0 };
        if (x === 1) {
          yield { k: 'lwsync' };
          yield { k: 'st', loc: 1, value: 1 };
        }
      }),
      2: prog(function* () {
        for (let i = 0; i < 300; i++) {
          const y = yield { k: 'ld', loc: 1 };
          if (y === 1) {
            const x = yield { k: 'ld', loc: 0 };
            if (x !== 1) bad.push(`y=1 then x=${x}`);
            return;
          }
        }
      }),
    };
    run(topo(3, 1), [['x', 0], ['y', 1]], sw, seed, true);
    assert.deepEqual(bad, [], `seed ${seed}`);
  }
});

test('atomics: concurrent increments at the home lose no update; cmpxchg locks exclude', () => {
  for (let seed = 1; seed <= 10; seed++) {
    let inside = 0;
    let overlap = 0;
    const sw: Record<number, ThreadSoftware> = {};
    for (let cpu = 0; cpu < 8; cpu++) {
      sw[cpu] = prog(function* () {
        for (let i = 0; i < 25; i++) yield { k: 'rmw', loc: 0, op: 'add', a: 1 };
        for (let i = 0; i < 5; i++) {
          while ((yield { k: 'rmw', loc: 1, op: 'cmpxchg', a: 0, b: cpu + 1 }) !== 0) yield { k: 'delay', ticks: 3 };
          yield { k: 'isync' };
          inside++;
          if (inside > 1) overlap++;
          yield { k: 'delay', ticks: 5 };
          inside--;
          yield { k: 'lwsync' };
          yield { k: 'st', loc: 1, value: 0 };
        }
      });
    }
    const { world, locs } = run(topo(4, 2), [['counter', 3], ['lock', 0]], sw, seed);
    assert.equal(world.finalValue(0, locs), 200, `seed ${seed}`);
    assert.equal(overlap, 0, `seed ${seed}: two threads inside the lock`);
  }
});

test('mixed size: byte stores merge into the word at the home; an exchange takes the whole word', () => {
  for (let seed = 1; seed <= 20; seed++) {
    let taken = 0;
    const sw: Record<number, ThreadSoftware> = {
      0: prog(function* () { yield { k: 'st', loc: 0, lane: 1, value: 1 }; yield { k: 'sync' }; }),
      1: prog(function* () { yield { k: 'st', loc: 0, lane: 3, value: 1 }; yield { k: 'sync' }; }),
      2: prog(function* () {
        yield { k: 'delay', ticks: 2000 };
        taken = yield { k: 'rmw', loc: 0, op: 'xchg', a: 0 };
      }),
    };
    const { world, locs } = run(topo(3, 1), [['msgs', 2]], sw, seed);
    assert.equal(taken, 256 + 16777216, `seed ${seed}: exchange saw ${taken}`);
    assert.equal(world.finalValue(0, locs), 0);
  }
});

test('directory: a read miss fetches the latest write, and later writes reach the new sharer', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const seen: number[] = [];
    const sw: Record<number, ThreadSoftware> = {
      0: prog(function* () {
        for (let v = 1; v <= 5; v++) {
          yield { k: 'st', loc: 0, value: v };
          yield { k: 'delay', ticks: 200 };
        }
      }),
      2: prog(function* () {
        for (let i = 0; i < 2000; i++) {
          const v = yield { k: 'ld', loc: 0 };
          if (seen[seen.length - 1] !== v) seen.push(v);
          if (v === 5) return;
        }
      }),
    };
    run(topo(2, 2), [['flag', 0]], sw, seed);
    assert.equal(seen[seen.length - 1], 5, `seed ${seed}: the reader never saw the last write (${seen})`);
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b), `seed ${seed}`);
  }
});

test('determinism: the same seed gives the same event stream; another seed does not', () => {
  const log = (seed: number): string => {
    const sw: Record<number, ThreadSoftware> = {};
    for (let cpu = 0; cpu < 4; cpu++) {
      sw[cpu] = prog(function* () {
        for (let i = 0; i < 20; i++) {
          yield { k: 'st', loc: i % 2, value: cpu * 100 + i };
          yield { k: 'ld', loc: (i + 1) % 2 };
          if (i % 5 === 0) yield { k: 'lwsync' };
        }
        yield { k: 'sync' };
      });
    }
    return JSON.stringify(run(topo(2, 2), [['a', 0], ['b', 1]], sw, seed).events);
  };
  assert.equal(log(5), log(5));
  assert.notEqual(log(5), log(6));
});
