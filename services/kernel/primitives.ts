/**
 * Barriers and atomics as the powerpc kernel spells them (arch/powerpc/include/asm/barrier.h,
 * cmpxchg.h, synch.h). Which instructions a fully ordered atomic uses depends on the patch set:
 * before b97021f85517 the entry/exit barriers were lwsync/isync; from it on, sync/sync.
 */
import { assert } from '../stdx/index.js';
import type { Op } from '../machine/index.js';
import type { Kernel } from './kernel.js';

/** A kernel function: yields machine ops, receives their results, may return a value. */
export type KFn<T = void> = Generator<Op, T, number>;

// arch/powerpc/include/asm/barrier.h @ v5.3: smp_mb = mb = sync
export function* smp_mb(): KFn {
  yield { k: 'sync' };
}

// smp_wmb and smp_rmb are lwsync on ppc64
export function* smp_wmb(): KFn {
  yield { k: 'lwsync' };
}

export function* smp_rmb(): KFn {
  yield { k: 'lwsync' };
}

// arch/powerpc/include/asm/barrier.h @ v5.3: __smp_store_release = lwsync; store
export function* smp_store_release(loc: number, value: number): KFn {
  yield { k: 'lwsync' };
  yield { k: 'st', loc, value };
}

export function* READ_ONCE(loc: number): KFn<number> {
  return yield { k: 'ld', loc };
}

export function* WRITE_ONCE(loc: number, value: number): KFn {
  yield { k: 'st', loc, value };
}

function* fullyOrdered(k: Kernel, op: Op): KFn<number> {
  // asm/synch.h: PPC_ATOMIC_ENTRY_BARRIER / PPC_ATOMIC_EXIT_BARRIER
  if (k.has('b97021f85517')) {
    yield { k: 'sync' };
    const old = yield op;
    yield { k: 'sync' };
    return old;
  }
  yield { k: 'lwsync' };
  const old = yield op;
  yield { k: 'isync' };
  return old;
}

// arch/powerpc/include/asm/cmpxchg.h @ v5.3 (v3.5 barriers without b97021f85517)
export function* xchg(k: Kernel, loc: number, value: number): KFn<number> {
  return yield* fullyOrdered(k, { k: 'rmw', loc, op: 'xchg', a: value });
}

// xchg_local / xchg_relaxed: the bare lwarx/stwcx. loop
export function* xchg_relaxed(loc: number, value: number): KFn<number> {
  return yield { k: 'rmw', loc, op: 'xchg', a: value };
}

export function* cmpxchg(k: Kernel, loc: number, old: number, value: number): KFn<number> {
  return yield* fullyOrdered(k, { k: 'rmw', loc, op: 'cmpxchg', a: old, b: value });
}

// arch/powerpc/include/asm/spinlock.h @ v3.5 (same shape in v5.3): __arch_spin_trylock is
// lwarx; cmpwi 0; bne; stwcx. token; bne; isync (PPC_ACQUIRE_BARRIER); on failure the lock
// spins with plain loads until the word reads 0, then tries again.
export function* arch_spin_lock(loc: number, token: number): KFn {
  for (let tries = 0; ; tries++) {
    assert(tries < 1_000_000, () => `arch_spin_lock: lock ${loc} not acquired after ${tries} tries`);
    const v = yield { k: 'larx', loc };
    if (v === 0) {
      const ok = yield { k: 'stcx', loc, value: token };
      if (ok === 1) {
        yield { k: 'isync' };
        return;
      }
      continue;
    }
    while ((yield { k: 'ld', loc }) !== 0) yield { k: 'delay', ticks: 1 };
  }
}

// arch/powerpc/include/asm/spinlock.h @ v3.5: PPC_RELEASE_BARRIER (lwsync); slock = 0
export function* arch_spin_unlock(loc: number): KFn {
  yield { k: 'lwsync' };
  yield { k: 'st', loc, value: 0 };
}
