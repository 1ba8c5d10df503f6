/**
 * Generic cross-calls: kernel/smp.c (csd locking, call_single_queue) and lib/llist.c.
 * The v3.5 kernel/smp.c kept a locked list for smp_call_function_many; the model uses the llist
 * queue of v3.7+ for every version (the 2012 race is in the scheduler's wake_list, not here).
 */
import { assert } from '../stdx/index.js';
import type { CsdNode, Kernel } from './kernel.js';
import { CSD_FLAG_LOCK, CSD_FLAG_SYNCHRONOUS, PPC_MSG } from './kernel.js';
import type { KFn } from './primitives.js';
import { cmpxchg, READ_ONCE, smp_rmb, smp_store_release, smp_wmb, WRITE_ONCE, xchg } from './primitives.js';
import { smp_muxed_ipi_message_pass } from './smp.js';

/** cpu_relax between polls of a spin loop (ticks). */
export const SPIN_RELAX_TICKS = 16;

// lib/llist.c @ v5.3 llist_add_batch: returns true when the list was empty
export function* llist_add(k: Kernel, nodeId: number, nextLoc: number, head: number): KFn<boolean> {
  let first = yield* READ_ONCE(head);
  for (let tries = 0; ; tries++) {
    assert(tries < 10_000, 'llist_add: cmpxchg loop did not converge');
    yield* WRITE_ONCE(nextLoc, first);
    const old = yield* cmpxchg(k, head, first, nodeId);
    if (old === first) return first === 0;
    first = old;
  }
}

// include/linux/llist.h @ v5.3 llist_del_all = xchg(&head->first, NULL)
export function* llist_del_all(k: Kernel, head: number): KFn<number> {
  return yield* xchg(k, head, 0);
}

// kernel/smp.c @ v5.3 csd_lock_wait = smp_cond_load_acquire(&csd->flags, !(VAL & CSD_FLAG_LOCK))
export function* csd_lock_wait(k: Kernel, self: number, csd: CsdNode, target: number): KFn {
  const cs = k.cpu(self);
  let v = yield* READ_ONCE(csd.flags);
  if ((v & CSD_FLAG_LOCK) !== 0) {
    cs.waitingFor = target;
    cs.waitingSince = yield { k: 'now' };
    cs.waitingWhere = 'smp_call_function_many';
    while ((v & CSD_FLAG_LOCK) !== 0) {
      yield { k: 'delay', ticks: SPIN_RELAX_TICKS };
      v = yield* READ_ONCE(csd.flags);
    }
    cs.waitingFor = -1;
  }
  yield* smp_rmb();
}

// kernel/smp.c @ v5.3
export function* csd_lock(k: Kernel, self: number, csd: CsdNode, target: number): KFn {
  yield* csd_lock_wait(k, self, csd, target);
  const f = yield* READ_ONCE(csd.flags);
  yield* WRITE_ONCE(csd.flags, f | CSD_FLAG_LOCK);
  // Keep the csd's other fields from being written before the lock bit is.
  yield* smp_wmb();
}

// kernel/smp.c @ v5.3
export function* csd_unlock(csd: CsdNode): KFn {
  yield* smp_store_release(csd.flags, 0);
}

/** The function a cross-call runs on the target (a TLB flush / do_nothing), in ticks. */
export const CALL_FUNC_TICKS = 4;

// kernel/smp.c @ v5.3 flush_smp_call_function_queue(warn_cpu_offline = true)
export function* flush_smp_call_function_queue(k: Kernel, self: number): KFn {
  const head = k.callSingleQueue[self] as number;
  const entry = yield* llist_del_all(k, head);
  if (entry === 0) {
    k.marks.hit('flush_smp_call_function_queue: queue empty');
    return;
  }
  const list: CsdNode[] = [];
  for (let n = entry; n !== 0; ) {
    assert(list.length < k.nodes.length, () => `cpu ${self}: call_single_queue is a cycle`);
    const node = k.node(n);
    assert('sender' in node, () => `call_single_queue[${self}] holds a task node`);
    list.push(node);
    n = yield* READ_ONCE(node.next);
  }
  list.reverse();
  for (const csd of list) {
    const flags = yield* READ_ONCE(csd.flags);
    yield* READ_ONCE(csd.data);
    if ((flags & CSD_FLAG_SYNCHRONOUS) !== 0) {
      yield { k: 'delay', ticks: CALL_FUNC_TICKS };
      yield* csd_unlock(csd);
    } else {
      yield* csd_unlock(csd);
      yield { k: 'delay', ticks: CALL_FUNC_TICKS };
    }
  }
}

// kernel/smp.c @ v5.3: generic_smp_call_function_single_interrupt
export function* generic_smp_call_function_interrupt(k: Kernel, self: number): KFn {
  yield* flush_smp_call_function_queue(k, self);
}

/** cpumask_and(mask, cpu_online_mask): the online test each sender makes (a plain read). */
function* onlineTargets(k: Kernel, self: number, mask: readonly number[]): KFn<number[]> {
  const out: number[] = [];
  for (const c of mask) {
    if (c === self) continue;
    const on = yield* READ_ONCE(k.cpuOnline[c] as number);
    if (on !== 0) out.push(c);
  }
  return out;
}

function* prepareCsd(k: Kernel, self: number, csd: CsdNode, target: number, wait: boolean): KFn<boolean> {
  yield* csd_lock(k, self, csd, target);
  if (wait) {
    const f = yield* READ_ONCE(csd.flags);
    yield* WRITE_ONCE(csd.flags, f | CSD_FLAG_SYNCHRONOUS);
  }
  yield* WRITE_ONCE(csd.data, 1);
  return yield* llist_add(k, csd.id, csd.next, k.callSingleQueue[target] as number);
}

// kernel/smp.c @ v5.3 smp_call_function_single -> generic_exec_single (csd on the caller's stack)
export function* smp_call_function_single(k: Kernel, self: number, target: number, wait: boolean): KFn {
  const csd = k.csdStack[self] as CsdNode;
  if (yield* prepareCsd(k, self, csd, target, wait)) {
    // arch_send_call_function_single_ipi
    yield* smp_muxed_ipi_message_pass(k, self, target, PPC_MSG.CALL_FUNCTION);
  } else {
    k.marks.hit('smp_call_function: queue not empty, no IPI');
  }
  if (wait) yield* csd_lock_wait(k, self, csd, target);
}

// kernel/smp.c @ v5.3
export function* smp_call_function_many(k: Kernel, self: number, mask: readonly number[], wait: boolean): KFn {
  const targets = yield* onlineTargets(k, self, mask);
  if (targets.length === 0) return;
  if (targets.length === 1) {
    yield* smp_call_function_single(k, self, targets[0] as number, wait);
    return;
  }
  const ipi: number[] = [];
  for (const t of targets) {
    if (yield* prepareCsd(k, self, k.csd(self, t), t, wait)) ipi.push(t);
    else k.marks.hit('smp_call_function: queue not empty, no IPI');
  }
  // arch_send_call_function_ipi_mask
  for (const t of ipi) yield* smp_muxed_ipi_message_pass(k, self, t, PPC_MSG.CALL_FUNCTION);
  if (wait) for (const t of targets) yield* csd_lock_wait(k, self, k.csd(self, t), t);
}
