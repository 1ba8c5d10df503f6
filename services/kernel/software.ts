/**
 * The software of each hardware thread: the kernel's per-CPU main flows (a host CPU running its
 * load, a vCPU thread entering and leaving its guest, the idle loop, the offline loop) and the
 * interrupt entry that dispatches to the modelled handlers.
 *
 * A guest's own execution is invisible to the host except through interrupts, so guest time is a
 * wait for the next interrupt (the machine's `nap`, with the decrementer standing in for the
 * guest exits a page fault or HDEC would cause).
 */
import { assertNever } from '../stdx/index.js';
import { WAKE_ON } from '../machine/index.js';
import type { IrqSource, Program, ThreadSoftware } from '../machine/index.js';
import type { Kernel, TaskNode } from './kernel.js';
import { PACA_IRQ_DBELL, PPC_MSG, TASK_WAKING } from './kernel.js';
import type { KFn } from './primitives.js';
import { READ_ONCE } from './primitives.js';
import { doorbell_exception } from './dbell.js';
import { xics_external_interrupt } from './xics.js';
import { kvmppc_guest_exit_h_doorbell, kvmppc_guest_external } from './kvm.js';
import { smp_call_function_many } from './csd.js';
import { schedule, try_to_wake_up } from './sched.js';
import { smp_muxed_ipi_message_pass } from './smp.js';
import { pnv_smp_cpu_kill_self, set_cpu_offline } from './hotplug.js';

export const CPU_ROLES = ['host', 'vcpu', 'idle', 'none'] as const;
export type CpuRole = (typeof CPU_ROLES)[number];

/** One step of a CPU's load, drawn by the workload generator. */
export type Action =
  /** Run user or kernel code for a while (interruptible in chunks). */
  | { a: 'compute'; ticks: number }
  /** smp_call_function_many(mask, func, info, wait) — TLB flush / THP serialisation. */
  | { a: 'crosscall'; targets: number[]; wait: boolean }
  /** try_to_wake_up of a task that belongs to another CPU; `wait`: block until it has run. */
  | { a: 'wake'; task: number; wait: boolean; checkOnline?: true }
  /** tick_broadcast: TICK_BROADCAST IPIs to CPUs whose decrementer is stopped in idle. */
  /** `checkOnline` (a machine where CPUs go offline): senders read cpu_online first. */
  | { a: 'broadcast'; targets: number[]; checkOnline?: true }
  /** Sleep (idle, napping) for a while. */
  | { a: 'sleep'; ticks: number }
  /** Go offline (cpu_down -> pnv_smp_cpu_kill_self) and stay there. */
  | { a: 'offline' };

/** What the kernel asks of the workload generator. */
export interface Workload {
  role(cpu: number): CpuRole;
  /** comm and pid of the task a CPU runs, for detector lines. */
  task(cpu: number): { comm: string; pid: number };
  /** The next action of a host CPU (or of a vCPU thread's host side after a guest exit). */
  next(cpu: number): Action;
  /** Guest run time between exits (ticks), for a vCPU CPU. */
  guestTicks(cpu: number): number;
  /** Cost of the guest-exit path (ticks) before the host handles what caused the exit. */
  exitTicks(cpu: number): number;
  /** The workload is over for this CPU (e.g. the run reached its IPI goal): idle from now on. */
  done(cpu: number): boolean;
}

const COMPUTE_CHUNK_TICKS = 64;
const TASK_RUN_TICKS = 8;
const WAIT_POLL_TICKS = 256;

export function cpuSoftware(k: Kernel, wl: Workload, cpu: number): ThreadSoftware | null {
  const role = wl.role(cpu);
  if (role === 'none') return null;
  const cs = k.cpu(cpu);
  const t = wl.task(cpu);
  cs.comm = t.comm;
  cs.pid = t.pid;
  return {
    main(): Program {
      switch (role) {
        case 'host':
          return hostMain(k, wl, cpu);
        case 'vcpu':
          return vcpuMain(k, wl, cpu);
        case 'idle':
          return idleMain(k, wl, cpu);
        default:
          return assertNever(role, 'role');
      }
    },
    interrupt(source: IrqSource): Program {
      return interruptEntry(k, cpu, source);
    },
  };
}

function* interruptEntry(k: Kernel, self: number, source: IrqSource): KFn {
  const cs = k.cpu(self);
  switch (source) {
    case 'hdbell':
      // 0xe80: in a guest, KVM's exit path decides; in the host, doorbell_exception.
      if (cs.mode === 'guest') yield* kvmppc_guest_exit_h_doorbell(k, self);
      else yield* doorbell_exception(k, self);
      return;
    case 'external':
      if (cs.mode === 'guest') yield* kvmppc_guest_external(k, self);
      else yield* xics_external_interrupt(k, self);
      return;
    case 'dec':
      if (cs.mode === 'guest') {
        if (cs.guestExit === '') cs.guestExit = 'timer';
      } else {
        cs.irq.timer_irqs_event++;
      }
      return;
    case 'pdbell':
      return;
    default:
      assertNever(source, 'irq source');
  }
}

function* idleOnce(k: Kernel, self: number, ticks: number): KFn {
  const cs = k.cpu(self);
  // power9_idle / power7_idle: hard-disable, nap until an interrupt or the timer, then take it.
  yield { k: 'ee', on: false };
  if (cs.runqueue.length === 0) {
    if (ticks > 0) yield { k: 'dec', ticks };
    cs.mode = 'idle';
    yield { k: 'nap', wake: WAKE_ON.all };
    cs.mode = 'host';
  }
  yield { k: 'ee', on: true };
  yield* schedule(k, self, TASK_RUN_TICKS);
}

function* perform(k: Kernel, wl: Workload, self: number, act: Action): KFn<boolean> {
  const cs = k.cpu(self);
  switch (act.a) {
    case 'compute': {
      let left = act.ticks;
      while (left > 0) {
        const d = Math.min(left, COMPUTE_CHUNK_TICKS);
        yield { k: 'delay', ticks: d };
        left -= d;
      }
      return true;
    }
    case 'crosscall':
      yield* smp_call_function_many(k, self, act.targets, act.wait);
      return true;
    case 'wake': {
      const p = k.tasks[act.task] as TaskNode;
      // A dying CPU's tasks move to online ones (migrate_tasks); the model's tasks stay pinned,
      // so a task of an offline CPU is left alone. A plain read, as the kernel's cpu_online()
      // test: a CPU going down right now is still seen online (the 2015 window).
      if (act.checkOnline === true && p.cpu !== self && (yield* READ_ONCE(k.cpuOnline[p.cpu] as number)) === 0) return true;
      const woke = yield* try_to_wake_up(k, self, p);
      if (woke && act.wait) {
        // The waker sleeps uninterruptibly until p has run (a completion p signals).
        const since = yield { k: 'now' };
        cs.blockedOn = p;
        cs.blockedSince = since;
        for (;;) {
          const s = yield* READ_ONCE(p.state);
          if (s !== TASK_WAKING) break;
          yield* idleOnce(k, self, WAIT_POLL_TICKS);
        }
        cs.blockedOn = null;
      }
      return true;
    }
    case 'broadcast':
      // tick_broadcast_oneshot_mask holds only CPUs that are online (a dying CPU leaves it,
      // tick_shutdown_broadcast); a plain read of cpu_online stands for the mask, stale in the
      // window while the CPU goes down.
      for (const t of act.targets) {
        if (act.checkOnline === true && (yield* READ_ONCE(k.cpuOnline[t] as number)) === 0) continue;
        yield* smp_muxed_ipi_message_pass(k, self, t, PPC_MSG.TICK_BROADCAST);
      }
      return true;
    case 'sleep':
      yield* idleOnce(k, self, act.ticks);
      return true;
    case 'offline':
      yield* set_cpu_offline(k, self);
      yield* pnv_smp_cpu_kill_self(k, self);
      return false;
    default:
      return assertNever(act, 'action');
  }
}

// The host side of a CPU running a stress-like load.
function* hostMain(k: Kernel, wl: Workload, self: number): KFn {
  const cs = k.cpu(self);
  yield { k: 'ee', on: true };
  for (;;) {
    cs.touchTick = yield { k: 'now' };
    yield* schedule(k, self, TASK_RUN_TICKS);
    if (wl.done(self)) {
      yield* idleOnce(k, self, 0);
      continue;
    }
    if (!(yield* perform(k, wl, self, wl.next(self)))) return;
  }
}

function* idleMain(k: Kernel, wl: Workload, self: number): KFn {
  const cs = k.cpu(self);
  yield { k: 'ee', on: true };
  for (;;) {
    cs.touchTick = yield { k: 'now' };
    yield* idleOnce(k, self, 0);
    if (wl.done(self)) continue;
  }
}

// A vCPU thread pinned to this CPU: kvmhv_run_single_vcpu's enter/exit loop (arch/powerpc/kvm/
// book3s_hv.c @ v5.3), with the host handling of each exit (page faults may cross-call).
function* vcpuMain(k: Kernel, wl: Workload, self: number): KFn {
  const cs = k.cpu(self);
  for (;;) {
    cs.touchTick = yield { k: 'now' };
    // Guest entry: hard-disabled; a doorbell latched from here on fires as soon as the guest runs.
    yield { k: 'ee', on: false };
    cs.mode = 'guest';
    cs.guestExit = '';
    yield { k: 'dec', ticks: wl.guestTicks(self) };
    yield { k: 'ee', on: true };
    while (cs.guestExit === '') {
      yield { k: 'nap', wake: WAKE_ON.all };
      cs.touchTick = yield { k: 'now' };
    }
    // Guest exit: back in the host, hard-disabled; the exit path saves the guest's state first
    // (book3s_hv_rmhandlers.S guest_exit_cont .. kvmhv_switch_to_host).
    yield { k: 'ee', on: false };
    cs.mode = 'host';
    yield { k: 'dec', ticks: -1 };
    const exitCost = wl.exitTicks(self);
    if (exitCost > 0) yield { k: 'delay', ticks: exitCost };
    if ((cs.irqHappened & PACA_IRQ_DBELL) !== 0) {
      // __check_irq_replay -> h_doorbell_common_msgclr: msgclr, then doorbell_exception.
      cs.irqHappened &= ~PACA_IRQ_DBELL;
      yield { k: 'msgclr' };
      yield* doorbell_exception(k, self);
    }
    yield { k: 'ee', on: true };
    yield* schedule(k, self, TASK_RUN_TICKS);
    if (cs.guestExit === 'timer' && !wl.done(self)) {
      // kvmppc_book3s_hv_page_fault and friends: the host work an exit does.
      if (!(yield* perform(k, wl, self, wl.next(self)))) return;
    }
  }
}
