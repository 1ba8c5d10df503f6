/**
 * Fault plans: what the bus (and the controller, for process faults) does wrong on purpose.
 *
 * The vocabulary is Toxiproxy's and netem's: `latency` (+ `jitter_ms`, `distribution`),
 * `reorder`, `duplicate`, `drop` (alias `loss`), `partition` of a core with a heal time, and the
 * process faults `pause` / `kill` / `restart` of a core at a time. Network rules match a link
 * (`src`, `dst`: a core number or `*`) and a message class (`memory`, `ipi`, `control`, `*`); for
 * each kind of fault the first matching rule wins, so specific rules go first.
 *
 * Example (YAML or the same in JSON):
 *
 *     faults:
 *       - { type: latency, class: ipi, latency_ms: 2, jitter_ms: 1, distribution: normal }
 *       - { type: drop, src: 0, dst: 1, probability: 0.01 }
 *       - { type: duplicate, probability: 0.01 }
 *       - { type: reorder, window: 4, hold_ms: 5 }
 *       - { type: partition, core: 2, at_ms: 500, heal_after_ms: 1000 }
 *       - { type: pause, core: 3, at_ms: 100, duration_ms: 200 }
 *
 * A `drop` of a memory message is a loss on the wire that the transport repairs (it arrives late),
 * and a partition in drop mode holds memory messages until the heal: the machine's coherence
 * traffic is never lost, as on the hardware, so a plan cannot wedge the emulated memory. IPI
 * messages (doorbells, MFRR writes) are lost for good: lost IPIs are what the tool is about.
 *
 * `FaultInjector` takes the decisions. It is pure model code: randomness comes from one seeded
 * stream per (link, class) and time from an injected clock, and every decision draws the same
 * number of values whatever the rules say, so the decision for the k-th message on a link
 * depends only on (seed, link, class, k, plan). It counts every fault it injects, by kind and link.
 */
import { readFileSync } from 'node:fs';
import { yaml } from '../stdx/yaml.js';
import { z } from 'zod';
import { assert } from '../stdx/assert.js';
import { InputError } from '../stdx/errors.js';
import { Random } from '../stdx/random.js';

/** A ceiling on any delay the plan can cause: one minute. */
export const FAULT_DELAY_MS_MAX = 60_000;
/** A ceiling on a reorder window. */
export const FAULT_REORDER_WINDOW_MAX = 1024;

const coreOrAny = z.union([z.literal('*'), z.number().int().nonnegative()]);
const msgClass = z.enum(['memory', 'ipi', 'control', '*']);
const probability = z.number().min(0).max(1);
const ms = z.number().nonnegative().max(FAULT_DELAY_MS_MAX);
const atMs = z.number().nonnegative();

const linkMatch = {
  /** Sending core, or `*`. Default `*`. */
  src: coreOrAny.default('*'),
  /** Receiving core, or `*`. Default `*`. */
  dst: coreOrAny.default('*'),
  /** Message class, or `*`. Default `*`. */
  class: msgClass.default('*'),
};

const latencyRule = z
  .object({
    type: z.literal('latency'),
    ...linkMatch,
    latency_ms: ms,
    jitter_ms: ms.default(0),
    distribution: z.enum(['uniform', 'normal', 'pareto']).default('uniform'),
  })
  .strict();
const reorderRule = z
  .object({
    type: z.literal('reorder'),
    ...linkMatch,
    /** Messages collected before they leave in a shuffled order. */
    window: z.number().int().min(2).max(FAULT_REORDER_WINDOW_MAX),
    /** A partly filled window leaves after this long, so a quiet link does not stall. */
    hold_ms: ms.default(5),
  })
  .strict();
const duplicateRule = z
  .object({ type: z.literal('duplicate'), ...linkMatch, probability })
  .strict();
const dropRule = z
  .object({ type: z.enum(['drop', 'loss']), ...linkMatch, probability })
  .strict();
const partitionRule = z
  .object({
    type: z.literal('partition'),
    /** Every link to and from this core is cut. */
    core: z.number().int().nonnegative(),
    at_ms: atMs,
    heal_after_ms: ms,
    /** `hold`: messages wait for the heal (TCP-like); `drop`: IPI and control messages are lost
     * (planned), memory messages still wait for the heal (the fabric never loses them). */
    mode: z.enum(['hold', 'drop']).default('hold'),
    class: msgClass.default('*'),
  })
  .strict();
const pauseRule = z
  .object({
    type: z.literal('pause'),
    core: z.number().int().nonnegative(),
    at_ms: atMs,
    duration_ms: ms,
  })
  .strict();
const killRule = z
  .object({ type: z.enum(['kill', 'restart']), core: z.number().int().nonnegative(), at_ms: atMs })
  .strict();

const faultRule = z.discriminatedUnion('type', [
  latencyRule,
  reorderRule,
  duplicateRule,
  dropRule,
  partitionRule,
  pauseRule,
  killRule,
]);

export const faultPlanSchema = z
  .object({
    /** Schema version of the plan file. */
    version: z.literal(1).default(1),
    faults: z.array(faultRule).max(1000).default([]),
  })
  .strict();

/** A validated fault plan (defaults applied). */
export type FaultPlan = z.infer<typeof faultPlanSchema>;
export type FaultRule = z.infer<typeof faultRule>;
export type MsgClass = 'memory' | 'ipi' | 'control';

export const FAULT_KINDS = [
  'latency',
  'reorder',
  'duplicate',
  'drop',
  'partition',
  'pause',
  'kill',
  'restart',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The empty plan: a faithful network. */
export function emptyFaultPlan(): FaultPlan {
  return { version: 1, faults: [] };
}

/** Validates a plan given as a value (e.g. from JSON over the control subject). */
export function parseFaultPlanValue(value: unknown, source = 'fault plan'): FaultPlan {
  const r = faultPlanSchema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  assert(issue !== undefined, 'a failed parse has an issue');
  throw new InputError(source, undefined, `${issuePath(issue.path)}: ${issue.message}`);
}

/** Parses a plan from YAML or JSON text; errors name the file, the line and the field. */
export function parseFaultPlan(text: string, file = 'fault plan'): FaultPlan {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError !== undefined) {
    const line = lineCounter.linePos(yamlError.pos[0]).line;
    throw new InputError(file, line, `not valid YAML/JSON: ${yamlError.message.split('\n')[0]}`);
  }
  const r = faultPlanSchema.safeParse(doc.toJS());
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  assert(issue !== undefined, 'a failed parse has an issue');
  // Point at the deepest node of the path that exists in the document.
  let line: number | undefined;
  for (let n = issue.path.length; n >= 0 && line === undefined; n--) {
    const node = doc.getIn(issue.path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node?.range !== undefined) line = lineCounter.linePos(node.range[0]).line;
  }
  const field = issuePath(issue.path);
  throw new InputError(file, line, `${field === '' ? 'plan' : field}: ${issue.message}`);
}

/** The pause/kill/restart faults of a plan, by time (the controller carries them out). */
export function processFaultsOf(plan: FaultPlan): ProcessFault[] {
  const out: ProcessFault[] = [];
  for (const r of plan.faults) {
    if (r.type === 'pause') out.push({ kind: 'pause', core: r.core, atMs: r.at_ms, durationMs: r.duration_ms });
    if (r.type === 'kill' || r.type === 'restart') {
      out.push({ kind: r.type, core: r.core, atMs: r.at_ms, durationMs: 0 });
    }
  }
  return out.sort((a, b) => a.atMs - b.atMs || a.core - b.core);
}

/**
 * Refuses a plan (read from `path`) that names a core the machine does not have (`ncores`
 * cores: 0..ncores-1): such a rule would match nothing, or a process fault would be scheduled for
 * no process. The error names the file and the rule's line.
 */
export function checkFaultPlanCores(path: string, plan: FaultPlan, ncores: number): void {
  plan.faults.forEach((rule, i) => {
    for (const field of ['src', 'dst', 'core'] as const) {
      const v = (rule as Record<string, unknown>)[field];
      if (typeof v !== 'number' || v < ncores) continue;
      let line: number | undefined;
      try {
        const { LineCounter, parseDocument } = yaml();
        const lc = new LineCounter();
        const doc = parseDocument(readFileSync(path, 'utf8'), { lineCounter: lc });
        const node = (doc.getIn(['faults', i, field], true) ?? doc.getIn(['faults', i], true)) as { range?: [number, number, number] } | undefined;
        if (node?.range !== undefined) line = lc.linePos(node.range[0]).line;
      } catch {
        // The plan parsed before: only the line is missing.
      }
      throw new InputError(path, line, `faults[${i}] (${rule.type}).${field}: core ${v} does not exist; the run has ${ncores} core${ncores === 1 ? '' : 's'} (0-${ncores - 1})`);
    }
  });
}

export function loadFaultPlan(path: string): FaultPlan {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InputError(path, undefined, `cannot read the fault plan: ${(e as Error).message}`);
  }
  return parseFaultPlan(text, path);
}

function issuePath(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** What the sender does with one message. */
export interface SendDecision {
  /** Not transmitted at all, and why. The sender records the number as a planned drop. */
  drop: 'drop' | 'partition' | undefined;
  /** Hold the message this long before transmitting (latency, plus a partition's hold). */
  delayMs: number;
  /** Transmit a second, marked copy of it. */
  duplicate: boolean;
  /** Pass it through a reorder window. */
  reorder: { window: number; holdMs: number } | undefined;
}

/** A scheduled process fault, for the controller to carry out. */
export interface ProcessFault {
  kind: 'pause' | 'kill' | 'restart';
  core: number;
  atMs: number;
  /** For `pause`: how long the process stays stopped (SIGSTOP … SIGCONT). */
  durationMs: number;
}

/** One counter: faults of `kind` injected on `link` (`src->dst`, or `core N` for a process). */
export interface FaultCount {
  kind: FaultKind;
  link: string;
  count: number;
}

export interface FaultInjectorOptions {
  /** The run seed; each link's stream is derived from it. */
  seed: number | bigint | string;
  /** Milliseconds since the run started (virtual in `sim`, real on NATS). */
  nowMs: () => number;
}

type LinkRules = {
  latency?: z.infer<typeof latencyRule>;
  reorder?: z.infer<typeof reorderRule>;
  duplicate?: z.infer<typeof duplicateRule>;
  drop?: z.infer<typeof dropRule>;
};

// Uniform draws per decision: drop, duplicate, and two for the latency sample.
const DRAWS_PER_DECISION = 4;
// Pareto shape; `(X - 1) * 2` with X ~ Pareto(1, 3) has mean 1, so pareto delays have mean
// latency + jitter with a heavy tail.
const PARETO_ALPHA = 3;

/** Applies a plan deterministically and counts what it injected. */
export class FaultInjector {
  private plan: FaultPlan;
  private readonly streams = new Map<string, Random>();
  /** Per link and class, for every message's decision: its stream and the rules that match it
   * (undefined after a plan update, until the next decision). Keyed by number: no string per send. */
  private readonly links = new Map<number, { rng: Random; rules: LinkRules | undefined }>();
  private hasPartitions: boolean;
  private readonly counters = new Map<string, FaultCount>();
  private readonly processDone = new Set<string>();

  constructor(
    plan: FaultPlan,
    private readonly opts: FaultInjectorOptions,
  ) {
    this.plan = plan;
    this.hasPartitions = plan.faults.some((r) => r.type === 'partition');
  }

  get currentPlan(): FaultPlan {
    return this.plan;
  }

  /** Replaces the plan from now on; each link's random stream carries on where it was. */
  update(plan: FaultPlan): void {
    this.plan = plan;
    this.hasPartitions = plan.faults.some((r) => r.type === 'partition');
    for (const l of this.links.values()) l.rules = undefined;
  }

  private linkOf(src: number, dst: number, cls: MsgClass): { rng: Random; rules: LinkRules } {
    const key = (src * 0x10000 + dst) * 4 + (cls === 'memory' ? 0 : cls === 'ipi' ? 1 : 2);
    let l = this.links.get(key);
    if (l === undefined) {
      l = { rng: this.stream(src, dst, cls), rules: undefined };
      this.links.set(key, l);
    }
    l.rules ??= this.rulesFor(src, dst, cls);
    return l as { rng: Random; rules: LinkRules };
  }

  /** Decides the fate of the next message on link src→dst of class `cls`. */
  decide(src: number, dst: number, cls: MsgClass): SendDecision {
    assert(src !== dst, 'a link joins two different cores');
    assert(src < 0x10000 && dst < 0x10000, 'core numbers fit the link key');
    const { rng, rules } = this.linkOf(src, dst, cls);
    const u = [rng.float(), rng.float(), rng.float(), rng.float()];
    assert(u.length === DRAWS_PER_DECISION, 'fixed draws per decision');
    // Named only when a fault is counted.
    const link = (): string => `${src}->${dst}`;
    const decision: SendDecision = { drop: undefined, delayMs: 0, duplicate: false, reorder: undefined };

    const partitionHealMs = this.hasPartitions ? this.partitionHeal(src, dst, cls) : undefined;
    if (partitionHealMs !== undefined) {
      this.count('partition', link());
      // Coherence traffic is never lost on the machine's fabric: in drop mode a memory message
      // still waits for the heal (hold); IPI and control messages are lost.
      if (partitionHealMs.mode === 'drop' && cls !== 'memory') {
        decision.drop = 'partition';
        return decision;
      }
      decision.delayMs += partitionHealMs.healAtMs - this.opts.nowMs();
    }
    if (rules.drop !== undefined && (u[0] as number) < rules.drop.probability) {
      this.count('drop', link());
      decision.drop = 'drop';
      return decision;
    }
    if (rules.latency !== undefined) {
      const d = latencySample(rules.latency, u[2] as number, u[3] as number);
      if (d > 0) {
        this.count('latency', link());
        decision.delayMs += d;
      }
    }
    if (rules.duplicate !== undefined && (u[1] as number) < rules.duplicate.probability) {
      this.count('duplicate', link());
      decision.duplicate = true;
    }
    if (rules.reorder !== undefined) {
      decision.reorder = { window: rules.reorder.window, holdMs: rules.reorder.hold_ms };
    }
    decision.delayMs = Math.min(Math.max(decision.delayMs, 0), FAULT_DELAY_MS_MAX);
    assert(decision.delayMs >= 0 && decision.delayMs <= FAULT_DELAY_MS_MAX, 'delay in bounds');
    return decision;
  }

  /**
   * The order in which a full (or timed-out) reorder window of `n` messages leaves, as a
   * permutation of 0..n-1; counts the messages that leave out of their place.
   */
  reorder(src: number, dst: number, cls: MsgClass, n: number): number[] {
    assert(n >= 0 && n <= FAULT_REORDER_WINDOW_MAX, 'reorder window in bounds');
    const order = Array.from({ length: n }, (_, i) => i);
    if (n < 2) return order;
    this.stream(src, dst, cls, 'reorder').shuffle(order);
    const moved = order.filter((v, i) => v !== i).length;
    if (moved > 0) this.count('reorder', `${src}->${dst}`, moved);
    return order;
  }

  /** The process faults of the plan, by time. */
  processFaults(): ProcessFault[] {
    return processFaultsOf(this.plan);
  }

  /** Called by whoever carried out a process fault, so that it is counted like the others. */
  recordProcessFault(f: ProcessFault): void {
    const key = `${f.kind}/${f.core}/${f.atMs}`;
    assert(!this.processDone.has(key), () => `process fault ${key} carried out once`);
    this.processDone.add(key);
    this.count(f.kind, `core ${f.core}`);
  }

  /** Every counter, sorted by kind then link. */
  counts(): FaultCount[] {
    return [...this.counters.values()]
      .map((c) => ({ ...c }))
      .sort((a, b) => a.kind.localeCompare(b.kind) || a.link.localeCompare(b.link));
  }

  /** Total of one kind, over all links (or on one link). */
  total(kind: FaultKind, link?: string): number {
    let n = 0;
    for (const c of this.counters.values()) {
      if (c.kind === kind && (link === undefined || c.link === link)) n += c.count;
    }
    return n;
  }

  private count(kind: FaultKind, link: string, n = 1): void {
    const key = `${kind}|${link}`;
    const c = this.counters.get(key);
    if (c === undefined) this.counters.set(key, { kind, link, count: n });
    else c.count += n;
  }

  private stream(src: number, dst: number, cls: MsgClass, purpose = 'decide'): Random {
    const key = `${src}->${dst}/${cls}/${purpose}`;
    let rng = this.streams.get(key);
    if (rng === undefined) {
      rng = new Random(this.opts.seed, `fault-plan/link/${key}`);
      this.streams.set(key, rng);
    }
    return rng;
  }

  /** The plan's first rule of each type that matches the link (kept by `linkOf`). */
  private rulesFor(src: number, dst: number, cls: MsgClass): LinkRules {
    const r: LinkRules = {};
    const matches = (m: { src: number | '*'; dst: number | '*'; class: string }): boolean =>
      (m.src === '*' || m.src === src) && (m.dst === '*' || m.dst === dst) &&
      (m.class === '*' || m.class === cls);
    for (const rule of this.plan.faults) {
      switch (rule.type) {
        case 'latency':
          if (r.latency === undefined && matches(rule)) r.latency = rule;
          break;
        case 'reorder':
          if (r.reorder === undefined && matches(rule)) r.reorder = rule;
          break;
        case 'duplicate':
          if (r.duplicate === undefined && matches(rule)) r.duplicate = rule;
          break;
        case 'drop':
        case 'loss':
          if (r.drop === undefined && matches(rule)) r.drop = rule;
          break;
        default:
          break;
      }
    }
    return r;
  }

  private partitionHeal(
    src: number,
    dst: number,
    cls: MsgClass,
  ): { healAtMs: number; mode: 'hold' | 'drop' } | undefined {
    const now = this.opts.nowMs();
    let found: { healAtMs: number; mode: 'hold' | 'drop' } | undefined;
    for (const rule of this.plan.faults) {
      if (rule.type !== 'partition') continue;
      if (rule.core !== src && rule.core !== dst) continue;
      if (rule.class !== '*' && rule.class !== cls) continue;
      const healAtMs = rule.at_ms + rule.heal_after_ms;
      if (now < rule.at_ms || now >= healAtMs) continue;
      if (found === undefined || healAtMs > found.healAtMs) found = { healAtMs, mode: rule.mode };
    }
    return found;
  }
}

function latencySample(rule: z.infer<typeof latencyRule>, u1: number, u2: number): number {
  const base = rule.latency_ms;
  const jitter = rule.jitter_ms;
  let d: number;
  switch (rule.distribution) {
    case 'uniform':
      d = base + jitter * (2 * u1 - 1);
      break;
    case 'normal': {
      const r = Math.sqrt(-2 * Math.log(Math.max(u1, 1e-12)));
      d = base + jitter * r * Math.cos(2 * Math.PI * u2);
      break;
    }
    case 'pareto':
      d = base + jitter * 2 * (Math.pow(Math.max(1 - u1, 1e-12), -1 / PARETO_ALPHA) - 1);
      break;
  }
  return Math.min(Math.max(d, 0), FAULT_DELAY_MS_MAX);
}
