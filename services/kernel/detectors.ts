/**
 * Lockup and stall detectors, sampled like their kernel timers and printed in the kernel's
 * formats: kernel/watchdog.c (soft lockup), kernel/rcu/tree_stall.h (RCU CPU stall) and
 * kernel/hung_task.c (hung task), all @ v5.3 (v3.5 prints the soft lockup without "watchdog: ").
 */
import type { Console } from './console.js';
import type { Kernel } from './kernel.js';

export interface DetectorOptions {
  /** watchdog_thresh (s); soft lockup after 2x, sampled every 2x/5. Default 10. */
  watchdogThreshSecs: number;
  /** CONFIG_RCU_CPU_STALL_TIMEOUT (s); repeats every 3x + 3 jiffies. Default 21. */
  rcuStallTimeoutSecs: number;
  /** hung_task_timeout_secs. Default 120. */
  hungTaskTimeoutSecs: number;
}

export const DEFAULT_DETECTORS: DetectorOptions = {
  watchdogThreshSecs: 10,
  rcuStallTimeoutSecs: 21,
  hungTaskTimeoutSecs: 120,
};

/**
 * The soft-lockup threshold (s): kernel/watchdog.c get_softlockup_thresh() = 2 x watchdog_thresh,
 * so a CPU spinning with interrupts on is reported after 20 s by default.
 */
export function softLockupSecs(o: Pick<DetectorOptions, 'watchdogThreshSecs'>): number {
  return 2 * o.watchdogThreshSecs;
}

export interface Lockup {
  kind: 'soft-lockup' | 'rcu-stall' | 'hung-task';
  cpu: number;
  seconds: number;
  comm: string;
  pid: number;
  /** For a CPU in csd_lock_wait: the CPU it waits for. */
  waitingFor?: number;
  where?: string;
}

export class Detectors {
  readonly lockups: Lockup[] = [];
  private readonly softReported = new Set<number>();
  private readonly rcuNext = new Map<number, number>();
  private readonly hungReported = new Set<number>();
  private readonly modern: boolean;

  constructor(
    private readonly k: Kernel,
    private readonly con: Console,
    readonly opts: DetectorOptions,
  ) {
    // The "watchdog: " pr_fmt prefix arrived with the 2017 watchdog rework (commit not modelled);
    // b866cc2199d6 is the nearest modelled patch of that cycle and stands in for it.
    this.modern = k.has('b866cc2199d6');
  }

  /** One sample of every detector at `tick` (kernel bookkeeping only; costs no machine op). */
  sample(tick: number): void {
    const tps = this.con.scale.ticksPerSecond;
    const soft = softLockupSecs(this.opts) * tps;
    const rcu = this.opts.rcuStallTimeoutSecs * tps;
    const hung = this.opts.hungTaskTimeoutSecs * tps;
    for (let c = 0; c < this.k.ncpus; c++) {
      const cs = this.k.cpu(c);
      if (cs.waitingFor < 0) {
        this.softReported.delete(c);
        this.rcuNext.delete(c);
      } else {
        const stuck = tick - cs.waitingSince;
        if (stuck > rcu) {
          const due = this.rcuNext.get(c) ?? cs.waitingSince + rcu;
          if (tick >= due) {
            this.con.printk(tick, 'rcu: INFO: rcu_sched self-detected stall on CPU');
            const jiffies = Math.round((stuck / tps) * 250);
            this.con.printk(
              tick,
              `rcu: \t${c}-....: (${jiffies} ticks this GP) idle=10a/1/0x4000000000000002 softirq=0/0 fqs=${Math.floor(jiffies / 3)}`,
            );
            this.lockups.push({ kind: 'rcu-stall', cpu: c, seconds: stuck / tps, comm: cs.comm, pid: cs.pid, waitingFor: cs.waitingFor, where: cs.waitingWhere });
            this.rcuNext.set(c, tick + 3 * rcu + 3);
          }
        }
        if (stuck > soft && !this.softReported.has(c)) {
          this.softReported.add(c);
          const s = Math.floor(stuck / tps);
          const pfx = this.modern ? 'watchdog: ' : '';
          this.con.printk(tick, `${pfx}BUG: soft lockup - CPU#${c} stuck for ${s}s! [${cs.comm}:${cs.pid}]`);
          this.lockups.push({ kind: 'soft-lockup', cpu: c, seconds: s, comm: cs.comm, pid: cs.pid, waitingFor: cs.waitingFor, where: cs.waitingWhere });
        }
      }
      if (cs.blockedOn !== null && tick - cs.blockedSince > hung && !this.hungReported.has(c)) {
        this.hungReported.add(c);
        const secs = this.opts.hungTaskTimeoutSecs;
        this.con.printk(tick, `INFO: task ${cs.comm}:${cs.pid} blocked for more than ${secs} seconds.`);
        this.con.printk(tick, `      Not tainted ${this.k.k.label} #1`);
        this.con.printk(tick, '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.');
        this.lockups.push({ kind: 'hung-task', cpu: c, seconds: secs, comm: cs.comm, pid: cs.pid });
      }
    }
  }

  /** Sampling period (ticks): the soft watchdog's hrtimer period, 2 x thresh / 5. */
  periodTicks(): number {
    const tps = this.con.scale.ticksPerSecond;
    return Math.max(1, Math.floor((softLockupSecs(this.opts) / 5) * tps));
  }
}
