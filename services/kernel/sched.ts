/**
 * Remote wake-ups and the idle loop: kernel/sched/core.c (try_to_wake_up, ttwu_queue_remote,
 * scheduler_ipi, sched_ttwu_pending) and the powernv idle entry.
 */
import { assert } from '../stdx/index.js';
import type { Kernel, TaskNode } from './kernel.js';
import { PPC_MSG, TASK_INTERRUPTIBLE, TASK_RUNNING, TASK_UNINTERRUPTIBLE, TASK_WAKING } from './kernel.js';
import type { KFn } from './primitives.js';
import { arch_spin_lock, arch_spin_unlock, READ_ONCE, smp_wmb, WRITE_ONCE } from './primitives.js';
import { llist_add, llist_del_all } from './csd.js';
import { smp_muxed_ipi_message_pass } from './smp.js';

// arch/powerpc/kernel/smp.c @ v3.5 smp_send_reschedule
export function* smp_send_reschedule(k: Kernel, self: number, cpu: number): KFn {
  yield* smp_muxed_ipi_message_pass(k, self, cpu, PPC_MSG.RESCHEDULE);
}

// kernel/sched/core.c @ v3.5 ttwu_queue_remote
export function* ttwu_queue_remote(k: Kernel, self: number, p: TaskNode, cpu: number): KFn {
  if (yield* llist_add(k, p.id, p.next, k.wakeList[cpu] as number)) {
    yield* smp_send_reschedule(k, self, cpu);
  } else {
    k.marks.hit('ttwu_queue_remote: wake_list not empty, no IPI');
  }
}

// kernel/sched/core.c @ v3.5 ttwu_do_activate / ttwu_do_wakeup (the rq lock is not modelled)
function* ttwu_do_activate(k: Kernel, self: number, p: TaskNode): KFn {
  yield* WRITE_ONCE(p.state, TASK_RUNNING);
  p.sinceTick = yield { k: 'now' };
  k.cpu(self).runqueue.push(p);
}

// kernel/sched/core.c @ v3.5 try_to_wake_up: under p->pi_lock (irqsave), so two wakers of one
// task cannot both see it sleeping and queue it twice (which would make wake_list a cycle).
export function* try_to_wake_up(k: Kernel, self: number, p: TaskNode): KFn<boolean> {
  yield* smp_wmb();
  const eeWas = yield { k: 'ee', on: false };
  yield* arch_spin_lock(p.piLock, self + 1);
  const woke = yield* try_to_wake_up_locked(k, self, p);
  yield* arch_spin_unlock(p.piLock);
  yield { k: 'ee', on: eeWas === 1 };
  return woke;
}

function* try_to_wake_up_locked(k: Kernel, self: number, p: TaskNode): KFn<boolean> {
  const state = yield* READ_ONCE(p.state);
  if ((state & (TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE)) === 0) {
    k.marks.hit('try_to_wake_up: task not sleeping');
    return false;
  }
  yield* WRITE_ONCE(p.state, TASK_WAKING);
  p.sinceTick = yield { k: 'now' };
  // ttwu_queue: remote queueing only when the CPUs do not share a cache (different cores here).
  if (p.cpu !== self && !k.siblings(self, p.cpu)) {
    yield* ttwu_queue_remote(k, self, p, p.cpu);
  } else if (p.cpu === self) {
    yield* ttwu_do_activate(k, self, p);
  } else {
    // A sibling's rq: taken under its lock in Linux; the model queues it remotely as well.
    yield* ttwu_queue_remote(k, self, p, p.cpu);
  }
  return true;
}

// kernel/sched/core.c @ v3.5 sched_ttwu_pending
function* sched_ttwu_pending(k: Kernel, self: number): KFn {
  let n = yield* llist_del_all(k, k.wakeList[self] as number);
  for (let len = 0; n !== 0; len++) {
    assert(len < k.tasks.length, () => `cpu ${self}: rq->wake_list is longer than the task count (a cycle)`);
    const p = k.node(n);
    assert('comm' in p, () => `wake_list[${self}] holds a csd node`);
    n = yield* READ_ONCE(p.next);
    yield* ttwu_do_activate(k, self, p);
  }
}

// kernel/sched/core.c @ v3.5 scheduler_ipi
export function* scheduler_ipi(k: Kernel, self: number): KFn {
  // llist_empty: a plain load under only a control dependency on the demux's read of the message
  // word, so the machine may satisfy it early (as POWER may, unless an isync or barrier follows
  // that read: v3.6's xchg ends in isync).
  const first = yield { k: 'ld', loc: k.wakeList[self] as number, floorTick: 0 };
  if (first === 0) {
    k.marks.hit('scheduler_ipi: wake_list empty, nothing to do');
    return;
  }
  yield* sched_ttwu_pending(k, self);
}

/** The scheduler picks the woken tasks on this CPU: each runs, then sleeps again. */
export function* schedule(k: Kernel, self: number, runTicks: number): KFn {
  const cs = k.cpu(self);
  cs.touchTick = yield { k: 'now' };
  while (cs.runqueue.length > 0) {
    const p = cs.runqueue.shift() as TaskNode;
    cs.comm = p.comm;
    cs.pid = p.pid;
    yield { k: 'delay', ticks: runTicks };
    yield* WRITE_ONCE(p.state, TASK_INTERRUPTIBLE);
    p.sinceTick = yield { k: 'now' };
  }
}

export { TASK_WAKING };
