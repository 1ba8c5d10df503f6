/**
 * KVM-HV and the host_ipi flag: arch/powerpc/include/asm/kvm_ppc.h (set/clear),
 * arch/powerpc/kvm/book3s_hv_rmhandlers.S (guest exit on a hypervisor doorbell) and
 * arch/powerpc/kvm/book3s_hv_builtin.c (kvmppc_read_one_intr for XICS).
 */
import type { Kernel } from './kernel.js';
import { PACA_IRQ_DBELL } from './kernel.js';
import type { KFn } from './primitives.js';
import { smp_mb } from './primitives.js';
import { IPI_PRIORITY, LOWEST_PRIORITY, XICS_IPI } from './xics.js';

// arch/powerpc/include/asm/kvm_ppc.h @ v5.4 (v5.3: kvmppc_set_host_ipi(cpu, 1), a plain store)
export function* kvmppc_set_host_ipi(k: Kernel, cpu: number): KFn {
  if (!k.kvm) return;
  // 3a83f677a6ee: order the message store (and anything else host_ipi announces) before the flag.
  if (k.has('3a83f677a6ee')) yield* smp_mb();
  yield { k: 'st', loc: k.hostIpi[cpu] as number, value: 1 };
}

// arch/powerpc/include/asm/kvm_ppc.h @ v5.4 (v5.3: kvmppc_set_host_ipi(cpu, 0), a plain store)
export function* kvmppc_clear_host_ipi(k: Kernel, cpu: number): KFn {
  if (!k.kvm) return;
  yield { k: 'st', loc: k.hostIpi[cpu] as number, value: 0 };
  // 3a83f677a6ee: order the clear before the demux's reads of the message word.
  if (k.has('3a83f677a6ee')) yield* smp_mb();
}

// arch/powerpc/kvm/book3s_hv_rmhandlers.S @ v5.3: guest exit with trap 0xe80 (H_DOORBELL)
export function* kvmppc_guest_exit_h_doorbell(k: Kernel, self: number): KFn {
  if (k.topo.cpuModel === 'power9') {
    yield { k: 'msgsync' };
    yield { k: 'lwsync' };
  }
  const hostIpi = yield { k: 'ld', loc: k.hostIpi[self] as number };
  if (hostIpi === 0) {
    // maybe_reenter_guest: the doorbell counts as a guest wake-up; pending messages stay set.
    k.marks.hit('kvm-exit: doorbell dropped, host_ipi == 0');
    k.noteGuestIpiDrop(self);
    return;
  }
  k.marks.hit('kvm-exit: host doorbell, exit to host');
  const cs = k.cpu(self);
  cs.guestExit = 'dbell';
  cs.irqHappened |= PACA_IRQ_DBELL;
}

/** The mark of an XICS IPI a guest took as a wake-up because it read host_ipi == 0. */
export const XICS_GUEST_WAKE = 'kvm-read-intr: xics IPI taken as guest wake-up, host_ipi == 0';

// arch/powerpc/kvm/book3s_hv_builtin.c @ v5.3: returns 1 (host must handle), 0 or -1 (guest wake)
export function* kvmppc_read_one_intr(k: Kernel, self: number): KFn<number> {
  const hostIpi = yield { k: 'ld', loc: k.hostIpi[self] as number };
  if (hostIpi !== 0) return 1;
  const xirr = yield { k: 'xirr' };
  yield* smp_mb();
  const xisr = xirr & 0xffffff;
  if (xisr === 0) return 0;
  if (xisr === XICS_IPI) {
    yield { k: 'mfrr', cpu: self, priority: LOWEST_PRIORITY };
    yield { k: 'eoi', xirr };
    yield* smp_mb();
    const again = yield { k: 'ld', loc: k.hostIpi[self] as number };
    if (again !== 0) {
      // Raced with the host: re-raise the IPI to ourselves and exit.
      k.marks.hit('kvm-read-intr: host_ipi set after EOI, IPI re-raised');
      yield { k: 'mfrr', cpu: self, priority: IPI_PRIORITY };
      yield* smp_mb();
      return 1;
    }
    k.marks.hit(XICS_GUEST_WAKE);
    k.noteGuestIpiDrop(self);
    return -1;
  }
  return 1;
}

// arch/powerpc/kvm/book3s_hv_rmhandlers.S @ v5.3: kvmppc_guest_external -> kvmppc_read_intr
// (one source per exit: the passthrough re-loop of kvmppc_read_intr is not modelled)
export function* kvmppc_guest_external(k: Kernel, self: number): KFn {
  const r = yield* kvmppc_read_one_intr(k, self);
  if (r > 0) {
    // The host must handle it: the exit goes on to the host (guest_exit_cont) hard-disabled, with
    // the IPI still presented (XIRR unread, or re-raised), and the host takes it once it enables
    // interrupts. Returning to the vCPU loop with EE on would take it again at once, in guest
    // mode, for ever: the exit would never run.
    k.marks.hit('kvm-read-intr: host IPI, exit to host');
    k.cpu(self).guestExit = 'xics';
    yield { k: 'srr1_ee', on: false };
  }
}
