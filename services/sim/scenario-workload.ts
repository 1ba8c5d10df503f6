/**
 * The stress-like workload generator: per CPU a seeded stream draws the next action from the
 * scenario's mix (compute, cross-calls as from KSM/THP TLB flushes, remote wake-ups, tick
 * broadcasts, sleeps), vCPUs stay pinned to their host CPUs, and chosen CPUs go offline at a tick.
 */
import { assert, Random } from '../stdx/index.js';
import type { Topology } from '../machine/index.js';
import type { Action, CpuRole, Workload } from '../kernel/index.js';
import type { Scenario } from './scenario.js';
import { parseCpuList } from './scenario.js';

type MixKey = 'compute' | 'crosscall' | 'wake' | 'broadcast' | 'sleep';
const MIX_KEYS: readonly MixKey[] = ['compute', 'crosscall', 'wake', 'broadcast', 'sleep'];

export class StressWorkload implements Workload {
  readonly roles: CpuRole[];
  readonly comms: Array<{ comm: string; pid: number }>;
  /** Cross-call peers of each CPU (its csds). */
  readonly peers: number[][];
  /** Task index per CPU in the wake pool (-1: none). */
  readonly taskOfCpu: number[];
  readonly tasks: Array<{ comm: string; cpu: number }> = [];
  private readonly wakePool: number[];
  private readonly broadcastPool: number[];
  private readonly rng: Random[];
  private readonly offlineAt = new Map<number, number>();
  /** CPUs go offline in this scenario: wake-ups and broadcasts check cpu_online first (only then,
   * so the memory traffic of other scenarios, and their seeds' histories, are unchanged). */
  private readonly hotplug: boolean;
  private readonly now: (cpu: number) => number;
  stopped = false;

  constructor(
    private readonly s: Scenario,
    private readonly topo: Topology,
    seed: number,
    now: (cpu: number) => number,
  ) {
    this.now = now;
    const ncpus = topo.sockets * topo.coresPerSocket * topo.threadsPerCore;
    this.roles = new Array<CpuRole>(ncpus).fill('idle');
    this.comms = Array.from({ length: ncpus }, (_, c) => ({ comm: `swapper/${c}`, pid: 0 }));
    let pid = 19_700;
    for (const g of s.guests) {
      const cpus = parseCpuList(g.cpus, `guests.${g.name}.cpus`);
      cpus.forEach((c, v) => {
        assert(c < ncpus, () => `guest ${g.name}: cpu ${c} does not exist on ${topo.name}`);
        this.roles[c] = 'vcpu';
        this.comms[c] = { comm: (g.comm ?? 'CPU %d/KVM').replace('%d', String(v)), pid: pid++ };
      });
    }
    for (const c of parseCpuList(s.workload.hostCpus, 'workload.hostCpus')) {
      assert(c < ncpus, () => `workload.hostCpus: cpu ${c} does not exist on ${topo.name}`);
      if (this.roles[c] === 'vcpu') continue;
      this.roles[c] = 'host';
      this.comms[c] = { comm: 'stress', pid: pid++ };
    }
    const active = this.roles.map((r, c) => (r === 'idle' ? -1 : c)).filter((c) => c >= 0);
    const pool = s.workload.crossCallPool !== undefined ? parseCpuList(s.workload.crossCallPool, 'workload.crossCallPool') : active;
    this.wakePool = s.workload.wakePool !== undefined ? parseCpuList(s.workload.wakePool, 'workload.wakePool') : active;
    this.broadcastPool = s.workload.broadcastPool !== undefined ? parseCpuList(s.workload.broadcastPool, 'workload.broadcastPool') : [];
    this.rng = Array.from({ length: ncpus }, (_, c) => new Random(seed, `workload/${c}`));
    const pick = new Random(seed, 'workload/plan');
    this.peers = Array.from({ length: ncpus }, (_, c) => {
      if (this.roles[c] === 'idle') return [];
      const cand = pool.filter((x) => x !== c);
      const out: number[] = [];
      while (out.length < Math.min(s.workload.crossCallPeers, cand.length)) {
        const x = cand[pick.int(cand.length)] as number;
        if (!out.includes(x)) out.push(x);
      }
      return out.sort((a, b) => a - b);
    });
    this.taskOfCpu = new Array<number>(ncpus).fill(-1);
    for (const c of this.wakePool) {
      this.taskOfCpu[c] = this.tasks.length;
      this.tasks.push({ comm: this.roles[c] === 'vcpu' ? `kworker/${c}:1` : 'worker', cpu: c });
    }
    if (s.workload.offline) {
      for (const c of parseCpuList(s.workload.offline.cpus, 'workload.offline.cpus')) this.offlineAt.set(c, s.workload.offline.atTicks);
    }
    this.hotplug = this.offlineAt.size > 0;
  }

  csdPairs(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    this.peers.forEach((ps, c) => ps.forEach((p) => out.push([c, p])));
    return out;
  }

  role(cpu: number): CpuRole {
    return this.roles[cpu] as CpuRole;
  }

  task(cpu: number): { comm: string; pid: number } {
    return this.comms[cpu] as { comm: string; pid: number };
  }

  done(_cpu: number): boolean {
    return this.stopped;
  }

  guestTicks(cpu: number): number {
    const [lo, hi] = this.s.workload.guestTicks;
    return lo + (this.rng[cpu] as Random).int(Math.max(1, hi - lo + 1));
  }

  exitTicks(cpu: number): number {
    const [lo, hi] = this.s.workload.exitTicks;
    return lo + (this.rng[cpu] as Random).int(Math.max(1, hi - lo + 1));
  }

  next(cpu: number): Action {
    const rng = this.rng[cpu] as Random;
    const w = this.s.workload;
    const off = this.offlineAt.get(cpu);
    if (off !== undefined && this.now(cpu) >= off) {
      this.offlineAt.delete(cpu);
      return { a: 'offline' };
    }
    const mix = this.roles[cpu] === 'vcpu' ? w.exitMix : w.hostMix;
    let total = 0;
    for (const key of MIX_KEYS) total += mix[key];
    let x = rng.float() * total;
    let kind: MixKey = 'compute';
    for (const key of MIX_KEYS) {
      x -= mix[key];
      if (x < 0) {
        kind = key;
        break;
      }
    }
    const between = (r: [number, number]): number => r[0] + rng.int(Math.max(1, r[1] - r[0] + 1));
    switch (kind) {
      case 'compute':
        return { a: 'compute', ticks: between(w.computeTicks) };
      case 'sleep':
        return { a: 'sleep', ticks: between(w.sleepTicks) };
      case 'crosscall': {
        const peers = this.peers[cpu] as number[];
        if (peers.length === 0) return { a: 'compute', ticks: between(w.computeTicks) };
        const n = 1 + rng.int(Math.min(w.crossCallTargetsMax, peers.length));
        const targets: number[] = [];
        while (targets.length < n) {
          const t = peers[rng.int(peers.length)] as number;
          if (!targets.includes(t)) targets.push(t);
        }
        return { a: 'crosscall', targets: targets.sort((a, b) => a - b), wait: w.crossCallWait };
      }
      case 'wake': {
        let cand = this.wakePool.filter((c) => c !== cpu);
        if (w.wakeVcpuShare !== undefined) {
          const toVcpu = rng.chance(w.wakeVcpuShare);
          const part = cand.filter((c) => (this.roles[c] === 'vcpu') === toVcpu);
          if (part.length > 0) cand = part;
        }
        if (cand.length === 0) return { a: 'compute', ticks: between(w.computeTicks) };
        const t = cand[rng.int(cand.length)] as number;
        return { a: 'wake', task: this.taskOfCpu[t] as number, wait: w.wakeWait, ...(this.hotplug ? { checkOnline: true as const } : {}) };
      }
      case 'broadcast': {
        const tpc = this.topo.threadsPerCore;
        const core = Math.floor(cpu / tpc);
        const sib = this.broadcastPool.filter((c) => c !== cpu && Math.floor(c / tpc) === core);
        if (sib.length === 0) return { a: 'compute', ticks: between(w.computeTicks) };
        return { a: 'broadcast', targets: [sib[rng.int(sib.length)] as number], ...(this.hotplug ? { checkOnline: true as const } : {}) };
      }
      default: {
        const never: never = kind;
        return never;
      }
    }
  }
}
