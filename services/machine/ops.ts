/**
 * What software running on an emulated hardware thread can ask of it. A thread's software is a
 * generator that yields `Op`s and receives each op's result (a number) back. Every op is one step
 * of the thread; blocking ops (sync, atomics) suspend it until the machine can answer.
 */
import type { RmwOp } from './msgs.js';

export type Op =
  /** Load a word (or a byte lane). `floorTick` allows the load to be satisfied early, from the
   * thread's view as of any tick >= floorTick (out-of-order load satisfaction); omit for in-order. */
  | { k: 'ld'; loc: number; lane?: number; floorTick?: number }
  /** Store a word, or a byte lane (0..5) that merges into the word at the home. `carryMark`
   * (per-thread lwsync ordering, litmus tests): the store also carries the first `carryMark`
   * entries of the prerequisites the thread took in with the writes it saw (see `poolmark`): a
   * store that depends on a load passes on what the barriers behind that load's write ordered. */
  | { k: 'st'; loc: number; value: number; lane?: number; carryMark?: number }
  /** Atomic read-modify-write performed at the home; returns the old value (stcx: 1 or 0). */
  | { k: 'rmw'; loc: number; op: RmwOp; a: number; b?: number }
  /** lwarx: load and reserve. With `floorTick`, a load like `ld`'s (it may be satisfied early, and
   * orders no later load); without, later loads are not satisfied before it. */
  | { k: 'larx'; loc: number; floorTick?: number }
  /** stwcx.: store if the reservation still holds; returns 1 on success, 0 on failure.
   * `carryMark` as for `st`. */
  | { k: 'stcx'; loc: number; value: number; carryMark?: number }
  | { k: 'sync' }
  | { k: 'lwsync' }
  | { k: 'isync' }
  | { k: 'eieio' }
  /** Receiver side of POWER9 doorbells (ppc_msgsync's msgsync). */
  | { k: 'msgsync' }
  /** Hypervisor doorbell to a Linux CPU (POWER9: any thread; POWER8: by TIR within the core). */
  | { k: 'msgsnd'; cpu: number; id?: number }
  /** Privileged (directed) doorbell to a thread of the same core, by thread-in-core id. */
  | { k: 'msgsndp'; tir: number; id?: number }
  /** Clear this thread's pending hypervisor / privileged doorbell. */
  | { k: 'msgclr' }
  | { k: 'msgclrp' }
  /** MMIO store to a thread's XICS MFRR (not ordered after earlier stores: precede with sync). */
  | { k: 'mfrr'; cpu: number; priority: number; id?: number }
  /** Read (accept) this thread's XIRR; returns CPPR << 24 | XISR. */
  | { k: 'xirr' }
  /** Write this thread's XIRR (EOI): restores CPPR from the top byte. */
  | { k: 'eoi'; xirr: number }
  | { k: 'cppr'; priority: number }
  /** Set MSR[EE] (hard interrupt enable); returns the previous value (0/1). */
  | { k: 'ee'; on: boolean }
  /** Inside an interrupt handler: the MSR[EE] its return restores (the EE bit of the saved
   * (H)SRR1), for a handler whose return goes on elsewhere hard-disabled, as KVM's guest exit
   * does. No cost. */
  | { k: 'srr1_ee'; on: boolean }
  /** Enter a power-saving state until a source in `wake` is pending; returns the SRR1 wake reason. */
  | { k: 'nap'; wake: number }
  /** Spend `ticks` of emulated time (computation, cpu_relax). */
  | { k: 'delay'; ticks: number }
  /** Program the decrementer: a timer interrupt after `ticks`; a negative value disables it. */
  | { k: 'dec'; ticks: number }
  /** Read the core's time base (its tick counter). Costs nothing. */
  | { k: 'now' }
  /** The tick at which the thread's last load was satisfied, times 2, plus 1 if it read the
   * thread's own write (for software that tracks dependencies). Costs nothing. */
  | { k: 'lastload' }
  /** Per-thread lwsync ordering: how many prerequisite entries the thread has taken in so far with
   * the writes it saw (a `carryMark` for stores that depend on a load made before now). The
   * entries only ever grow, so a later mark covers every earlier one. Costs nothing. */
  | { k: 'poolmark' }
  /** A tracepoint on the machine's event stream. Costs nothing. */
  | { k: 'tp'; name: string; attrs?: Record<string, number | string | boolean> };

export type Program = Generator<Op, void, number>;

export const IRQ_SOURCES = ['external', 'hdbell', 'pdbell', 'dec'] as const;
export type IrqSource = (typeof IRQ_SOURCES)[number];

/** SRR1 wake-reason values (the 4-bit field of POWER8/POWER9, mask 0x003c0000). */
export const SRR1_WAKE = {
  external: 0x00200000,
  dec: 0x00180000,
  pdbell: 0x00140000,
  hdbell: 0x000c0000,
} as const satisfies Record<IrqSource, number>;
export const SRR1_WAKEMASK_P8 = 0x003c0000;
export const SRR1_WAKEMASK_P7 = 0x00380000;

/** Wake-source bits for the `nap` op (which interrupts may end a power-saving state). */
export const WAKE_ON = { external: 1, hdbell: 2, pdbell: 4, dec: 8, all: 15 } as const;

/** Software of one hardware thread. */
export interface ThreadSoftware {
  /** The thread's main flow, run from power-on. */
  main(): Program;
  /**
   * The flow run when the thread takes an interrupt (MSR[EE] is cleared on entry and restored
   * when the flow returns, as rfid would). Without it, interrupts stay pending.
   */
  interrupt?(source: IrqSource): Program;
}
