/**
 * Muxed IPI messages: arch/powerpc/kernel/smp.c (send, demux, message handlers) and the
 * platform's choice of cause_ipi (arch/powerpc/platforms/powernv/smp.c).
 */
import { assertNever } from '../stdx/index.js';
import type { Kernel, PpcMsg } from './kernel.js';
import { PPC_MSG } from './kernel.js';
import type { KFn } from './primitives.js';
import { READ_ONCE, smp_mb, xchg, xchg_relaxed } from './primitives.js';
import { doorbell_cause_ipi, doorbell_global_ipi, doorbell_try_core_ipi } from './dbell.js';
import { icp_native_cause_ipi } from './xics.js';
import { generic_smp_call_function_interrupt } from './csd.js';
import { scheduler_ipi } from './sched.js';
import { laneOf } from '../machine/index.js';
import type { CpuModel } from '../machine/index.js';
import type { PatchId } from './patches.js';

// arch/powerpc/kernel/smp.c @ v5.3 (v3.5: no barrier before the byte store)
export function* smp_muxed_ipi_set_message(k: Kernel, self: number, cpu: number, msg: PpcMsg): KFn {
  // 9fb1b36ca123: order the caller's earlier stores (wake_list, csd) before the message.
  if (k.has('9fb1b36ca123')) yield* smp_mb();
  const cs = k.cpu(self);
  cs.ipiSeq++;
  k.ipisSent++;
  // Ground truth for the ignored-IPI checker: the next store of this CPU to ipi_message[cpu].
  yield { k: 'tp', name: 'ipi_message_set', attrs: { ipi_id: `${self}:${cs.ipiSeq}`, target: cpu, msg } };
  yield { k: 'st', loc: k.ipiMessage[cpu] as number, lane: msg, value: 1 };
}

// arch/powerpc/kernel/smp.c @ v5.3 (v3.5: store; mb; cause_ipi)
export function* smp_muxed_ipi_message_pass(k: Kernel, self: number, cpu: number, msg: PpcMsg): KFn {
  yield* smp_muxed_ipi_set_message(k, self, cpu, msg);
  // Before 9fb1b36ca123 the full barrier sat between the message store and cause_ipi; after it,
  // every cause_ipi carries its own barrier.
  if (!k.has('9fb1b36ca123')) yield* smp_mb();
  yield* cause_ipi(k, self, cpu);
}

/** Whether every host IPI is a doorbell, never an XICS IPI: POWER9's global doorbells, from the
 * platform's choice (b866cc2199d6) and their POWER9 support (6b3edefefa67), as `cause_ipi` installs. */
export function hostIpisAreDoorbells(cpuModel: CpuModel, has: (commit: PatchId) => boolean): boolean {
  return has('b866cc2199d6') && has('6b3edefefa67') && cpuModel === 'power9';
}

// arch/powerpc/platforms/powernv/smp.c @ v5.3 pnv_smp_probe: which cause_ipi powernv installs
export function* cause_ipi(k: Kernel, self: number, cpu: number): KFn {
  if (k.has('b866cc2199d6')) {
    if (hostIpisAreDoorbells(k.topo.cpuModel, (c) => k.has(c))) {
      yield* doorbell_global_ipi(k, self, cpu);
      return;
    }
    yield* pnv_cause_ipi(k, self, cpu);
    return;
  }
  yield* icp_native_cause_ipi(k, self, cpu);
}

// arch/powerpc/platforms/powernv/smp.c @ v5.3
export function* pnv_cause_ipi(k: Kernel, self: number, cpu: number): KFn {
  if (yield* doorbell_try_core_ipi(k, self, cpu)) return;
  yield* icp_native_cause_ipi(k, self, cpu);
}

export { doorbell_cause_ipi };

// arch/powerpc/kernel/smp.c @ v5.3: mb, then the relaxed demux
export function* smp_ipi_demux(k: Kernel, self: number): KFn {
  yield* smp_mb();
  yield* smp_ipi_demux_relaxed(k, self);
}

// arch/powerpc/kernel/smp.c @ v5.3 (v3.5: xchg_local; ablation demuxReadRelaxed: xchg_relaxed)
export function* smp_ipi_demux_relaxed(k: Kernel, self: number): KFn {
  k.cpu(self).demuxPasses++;
  const loc = k.ipiMessage[self] as number;
  let first = true;
  for (;;) {
    let all: number;
    if (!k.has('9fb1b36ca123')) {
      all = yield* xchg_relaxed(loc, 0);
    } else if (first && k.ablations.demuxReadRelaxed === true) {
      k.marks.hit('demux: first read unfenced (ablation)');
      all = yield* xchg_relaxed(loc, 0);
    } else {
      all = yield* xchg(k, loc, 0);
    }
    const firstPass = first;
    first = false;
    // Dispatch in the kernel's fixed order, one handler per set byte.
    for (const msg of [PPC_MSG.CALL_FUNCTION, PPC_MSG.RESCHEDULE, PPC_MSG.TICK_BROADCAST, PPC_MSG.NMI_IPI] as const) {
      if (laneOf(all, msg) === 0) continue;
      k.ipisHandled++;
      if (!firstPass) k.marks.hit(`demux: message ${msg} handled on a later pass`);
      yield { k: 'tp', name: 'ipi_message_handle', attrs: { msg } };
      yield* ipi_message_action(k, self, msg);
    }
    const again = yield* READ_ONCE(loc);
    if (again === 0) return;
    k.marks.hit('demux: re-check found a new message');
  }
}

function* ipi_message_action(k: Kernel, self: number, msg: PpcMsg): KFn {
  switch (msg) {
    case PPC_MSG.CALL_FUNCTION:
      // v3.5 lane 2 was CALL_FUNC_SINGLE; both drain the same queue in this model.
      yield* generic_smp_call_function_interrupt(k, self);
      return;
    case PPC_MSG.RESCHEDULE:
      yield* scheduler_ipi(k, self);
      return;
    case PPC_MSG.TICK_BROADCAST:
      // timer_broadcast_interrupt: runs the local clock event handler (counted as LOC "others").
      k.cpu(self).irq.timer_irqs_others++;
      return;
    case PPC_MSG.NMI_IPI:
      return;
    default:
      assertNever(msg, 'ipi message');
  }
}
