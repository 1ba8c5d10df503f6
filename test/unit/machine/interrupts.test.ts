/**
 * Interrupt presentation: doorbells (reach, latch, edge semantics, msgclr), the XICS ICP
 * (MFRR, XIRR accept, EOI) and power saving (wake reasons; a wake does not clear a doorbell).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocationTable, SRR1_WAKE, WAKE_ON } from '../../../services/machine/index.js';
import type { IrqSource, Program, ThreadSoftware, Topology } from '../../../services/machine/index.js';
import { World } from '../../../services/sim/world.js';

function world(t: Topology, sw: Record<number, ThreadSoftware>, seed = 1): World {
  const w = new World({ topology: t, locations: new LocationTable(), seed, software: (c) => sw[c] ?? null });
  return w;
}

test('a global doorbell (POWER9) reaches a thread of another core; the handler runs with EE off', () => {
  const taken: string[] = [];
  const sw: Record<number, ThreadSoftware> = {
    0: { main: function* (): Program { yield { k: 'msgsnd', cpu: 5 }; } },
    5: {
      main: function* (): Program {
        yield { k: 'ee', on: true };
        for (let i = 0; i < 200 && taken.length === 0; i++) yield { k: 'delay', ticks: 5 };
      },
      interrupt: function* (src: IrqSource): Program {
        const ee = yield { k: 'ee', on: false };
        taken.push(`${src}:ee=${ee}`);
      },
    },
  };
  world({ name: 'p9', cpuModel: 'power9', sockets: 1, coresPerSocket: 2, threadsPerCore: 4 }, sw).run({ ticksMax: 100_000 });
  assert.deepEqual(taken, ['hdbell:ee=0']);
});

test('POWER8 msgsnd stays in the sender core (the tag is a thread-in-core id)', () => {
  const hit: number[] = [];
  const handler = (cpu: number): ThreadSoftware => ({
    main: function* (): Program {
      yield { k: 'ee', on: true };
      yield { k: 'delay', ticks: 500 };
    },
    interrupt: function* (): Program { hit.push(cpu); },
  });
  const sw: Record<number, ThreadSoftware> = {
    0: { main: function* (): Program { yield { k: 'msgsnd', cpu: 9 }; } },
    1: handler(1),
    9: handler(9),
  };
  world({ name: 'p8', cpuModel: 'power8', sockets: 1, coresPerSocket: 2, threadsPerCore: 8 }, sw).run({ ticksMax: 100_000 });
  assert.deepEqual(hit, [1]);
});

test('waking from nap does not clear a doorbell; msgclr does', () => {
  const reasons: number[] = [];
  const sender: ThreadSoftware = {
    main: function* (): Program {
      yield { k: 'delay', ticks: 50 };
      yield { k: 'msgsndp', tir: 1 };
      yield { k: 'msgsnd', cpu: 1 };
    },
  };
  const w = world({ name: 'p8', cpuModel: 'power8', sockets: 1, coresPerSocket: 1, threadsPerCore: 2 }, {
    0: sender,
    1: {
      main: function* (): Program {
        reasons.push(yield { k: 'nap', wake: WAKE_ON.hdbell });
        reasons.push(yield { k: 'nap', wake: WAKE_ON.hdbell });
        yield { k: 'msgclr' };
        yield { k: 'dec', ticks: 100 };
        reasons.push(yield { k: 'nap', wake: WAKE_ON.hdbell | WAKE_ON.dec });
      },
    },
  });
  w.run({ ticksMax: 100_000 });
  assert.deepEqual(reasons, [SRR1_WAKE.hdbell, SRR1_WAKE.hdbell, SRR1_WAKE.dec]);
});

test('XICS: an MFRR store presents an IPI; XIRR accepts it; EOI with MFRR reset ends it', () => {
  const seen: string[] = [];
  const sw: Record<number, ThreadSoftware> = {
    0: { main: function* (): Program { yield { k: 'sync' }; yield { k: 'mfrr', cpu: 3, priority: 4 }; } },
    3: {
      main: function* (): Program {
        yield { k: 'ee', on: true };
        for (let i = 0; i < 100 && seen.length < 2; i++) yield { k: 'delay', ticks: 10 };
      },
      interrupt: function* (src: IrqSource): Program {
        const xirr = yield { k: 'xirr' };
        seen.push(`${src} xisr=${xirr & 0xffffff} cppr=${xirr >>> 24}`);
        yield { k: 'mfrr', cpu: 3, priority: 0xff };
        yield { k: 'eoi', xirr };
        const again = yield { k: 'xirr' };
        seen.push(`after eoi xisr=${again & 0xffffff}`);
      },
    },
  };
  world({ name: 'p8', cpuModel: 'power8', sockets: 1, coresPerSocket: 2, threadsPerCore: 2 }, sw).run({ ticksMax: 100_000 });
  assert.deepEqual(seen, ['external xisr=2 cppr=255', 'after eoi xisr=0']);
});

test('a handler that leaves its interrupt presented returns hard-disabled with srr1_ee, so the code it returns to runs', () => {
  // The XICS IPI stays presented (XIRR is never read): with EE restored on, it would be taken again
  // at once, for ever, and the main program would never run another op (KVM's guest exit for a
  // host IPI before model 4). With srr1_ee off, the main program goes on hard-disabled.
  const log: string[] = [];
  let takes = 0;
  const sw: Record<number, ThreadSoftware> = {
    0: { main: function* (): Program { yield { k: 'sync' }; yield { k: 'mfrr', cpu: 3, priority: 4 }; } },
    3: {
      main: function* (): Program {
        yield { k: 'ee', on: true };
        for (let i = 0; i < 100 && takes === 0; i++) yield { k: 'delay', ticks: 10 };
        const ee = yield { k: 'ee', on: false };
        log.push(`main resumed, ee was ${ee}`);
      },
      interrupt: function* (src: IrqSource): Program {
        takes++;
        log.push(src);
        yield { k: 'srr1_ee', on: false };
      },
    },
  };
  world({ name: 'p8', cpuModel: 'power8', sockets: 1, coresPerSocket: 2, threadsPerCore: 2 }, sw).run({ ticksMax: 10_000 });
  assert.deepEqual(log, ['external', 'main resumed, ee was 0']);
  assert.equal(takes, 1);
});

test('srr1_ee outside an interrupt handler is a model error', () => {
  const sw: Record<number, ThreadSoftware> = { 0: { main: function* (): Program { yield { k: 'srr1_ee', on: false }; } } };
  assert.throws(() => world({ name: 'p8', cpuModel: 'power8', sockets: 1, coresPerSocket: 1, threadsPerCore: 1 }, sw).run({ ticksMax: 100 }), /srr1_ee outside an interrupt handler/);
});
