/**
 * Kernel versions as patch sets. Every modelled upstream change is one named switch; a version is
 * the set of switches dated up to its release. Model code asks `k.has('<commit>')`, never compares
 * versions.
 *
 * Dates are the upstream commit dates as far as we could pin them (the notes say where not). The
 * list is in date order; `bisect` walks it in this order.
 */
import { UsageError } from '../stdx/index.js';

export interface Patch {
  /** Abbreviated upstream commit id (12 hex digits). */
  commit: string;
  subject: string;
  /** ISO date (YYYY-MM-DD) of the commit. */
  date: string;
  /** What the switch changes in the model, in one line. */
  effect: string;
}

export const PATCHES = [
  {
    commit: '9fb1b36ca123',
    subject: 'powerpc: Make sure IPI handlers see data written by IPI senders',
    date: '2012-09-04',
    effect: 'smp_mb before the message byte store; fully ordered xchg in smp_ipi_demux; mb in each cause_ipi',
  },
  {
    // Subject and date from the dbell.c history in the reference seed (published 2013-03-21).
    commit: 'a6a058e52a0c',
    subject: 'powerpc: Add accounting for Doorbell interrupts',
    date: '2013-03-21',
    effect: 'doorbell_exception increments irq_stat.doorbell_irqs; /proc/interrupts prints DBL',
  },
  {
    commit: 'b97021f85517',
    subject: 'powerpc: Fix atomic_xxx_return barrier semantics',
    date: '2014-03-07',
    effect: 'fully ordered atomics (xchg, cmpxchg) become sync; op; sync instead of lwsync; op; isync',
  },
  {
    commit: 'd4e58e5928f8',
    subject: 'powerpc/powernv: Enable POWER8 doorbell IPIs',
    date: '2014-05-23',
    effect: 'icp_native_cause_ipi sends a hypervisor doorbell to siblings (host_ipi set first)',
  },
  {
    commit: '755563bc79c7',
    subject: 'powerpc/powernv: Fixes for hypervisor doorbell handling',
    date: '2015-03-19',
    effect: 'doorbell_exception clears host_ipi; kill_self knows the HDBELL wake reason (msgclr, host_ipi = 0)',
  },
  {
    commit: 'b866cc2199d6',
    subject: 'powerpc: Change the doorbell IPI calling convention',
    date: '2017-04-13',
    effect: 'doorbell_global_ipi / doorbell_core_ipi / doorbell_try_core_ipi; platform picks cause_ipi',
  },
  {
    commit: 'b87ac0218355',
    subject: 'powerpc: Introduce msgsnd/doorbell barrier primitives',
    date: '2017-04-13',
    effect: 'ppc_msgsnd_sync (sync) before msgsnd; ppc_msgsync at doorbell entry; demux_relaxed there',
  },
  {
    commit: '6b3edefefa67',
    subject: 'powerpc/powernv: POWER9 support for msgsnd/doorbell IPI',
    date: '2017-04-13',
    effect: 'POWER9 HV: cause_ipi = doorbell_global_ipi (any thread); ppc_msgsync = msgsync; lwsync',
  },
  {
    commit: '5b2a15296210',
    subject: 'powerpc: Add doorbell tracepoints',
    date: '2019-05-03',
    effect: 'doorbell_entry / doorbell_exit tracepoints in doorbell_exception',
  },
  {
    commit: '3a83f677a6ee',
    subject: 'KVM: PPC: Book3S HV: use smp_mb() when setting/clearing host_ipi flag',
    date: '2019-09-24',
    effect: 'kvmppc_set_host_ipi = smp_mb; W host_ipi = 1 and kvmppc_clear_host_ipi = W host_ipi = 0; smp_mb',
  },
] as const satisfies readonly Patch[];

export type PatchId = (typeof PATCHES)[number]['commit'];

/** Release dates of the versions we name; a version holds every patch dated before it. */
export const VERSIONS = {
  'v3.5': '2012-07-21',
  'v3.6': '2012-09-30',
  'v3.19': '2015-02-08',
  'v4.0': '2015-04-12',
  'v5.3': '2019-09-15',
  'v5.4': '2019-11-24',
} as const;

export type VersionName = keyof typeof VERSIONS;

export function versionNames(): VersionName[] {
  return Object.keys(VERSIONS) as VersionName[];
}

export function isVersionName(s: string): s is VersionName {
  return Object.hasOwn(VERSIONS, s);
}

export function findPatch(commit: string): Patch {
  const c = commit.toLowerCase();
  const hits = PATCHES.filter((p) => p.commit.startsWith(c) || c.startsWith(p.commit));
  if (hits.length !== 1 || c.length < 7) {
    throw new UsageError(
      `unknown patch "${commit}": give at least 7 hex digits of one of ${PATCHES.map((p) => p.commit).join(', ')}`,
    );
  }
  return hits[0] as Patch;
}

/** Patches of a named version, in date order. */
export function patchesOfVersion(v: VersionName): Patch[] {
  const until = VERSIONS[v];
  return PATCHES.filter((p) => p.date <= until);
}

/** An immutable set of applied patches; model code asks `has(commit)`. */
export class PatchSet {
  private readonly ids: ReadonlySet<string>;
  constructor(
    readonly label: string,
    readonly patches: readonly Patch[],
  ) {
    this.ids = new Set(patches.map((p) => p.commit));
  }

  has(commit: PatchId): boolean {
    return this.ids.has(commit);
  }

  list(): string[] {
    return this.patches.map((p) => p.commit);
  }
}

export interface KernelSelection {
  /** A named version (v3.5 ... v5.4); default v5.3. */
  kernel?: string;
  /** Patches taken out of the version. */
  revert?: string[];
  /** Explicit patch list; replaces `kernel` when given. */
  patches?: string[];
}

/** Resolves `--kernel V [--revert C]... | --patches a,b,c` into a patch set, in date order. */
export function resolveKernel(sel: KernelSelection): PatchSet {
  let base: Patch[];
  let label: string;
  if (sel.patches !== undefined) {
    const chosen = new Set(sel.patches.map((c) => findPatch(c).commit));
    base = PATCHES.filter((p) => chosen.has(p.commit));
    label = `patches:${base.map((p) => p.commit).join(',') || 'none'}`;
  } else {
    const v = sel.kernel ?? 'v5.3';
    if (!isVersionName(v)) {
      throw new UsageError(`unknown kernel "${v}"; valid kernels are ${versionNames().join(', ')}`);
    }
    base = patchesOfVersion(v);
    label = v;
  }
  for (const r of sel.revert ?? []) {
    const p = findPatch(r);
    if (!base.some((b) => b.commit === p.commit)) {
      throw new UsageError(`--revert ${r}: patch ${p.commit} is not in ${label}`);
    }
    base = base.filter((b) => b.commit !== p.commit);
    label += ` -${p.commit}`;
  }
  return new PatchSet(label, base);
}
