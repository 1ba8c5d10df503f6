import { parseArgs, formatHelp } from './args.js';
import type { Command } from './command.js';
import { out } from './command.js';
import { coreCount, litmusOutcome, topologyOf } from '../sim/replay.js';
import { inputsOf, readRecordFile } from '../sim/record-stream.js';
import type { RunRecord } from '../sim/replay.js';
import { AssertionError, InputError } from '../stdx/index.js';
import { replayAndJudge, verdictOf } from '../controller/run-scenario.js';
import type { TimeScale } from '../controller/run-scenario.js';
import { replayRun, type RunReplayResult } from '../core/index.js';
import type { EndReason, HangWait } from '../controller/controller.js';

const spec = {
  summary:
    'Replays a record written by `ipiscope run --record` in this one process: every core is rebuilt from ' +
    'the recorded spec and fed its recorded inputs at the recorded steps. Prints whether the final memory, ' +
    'console and verdict are the recorded ones, bit for bit, and any divergence (a core sending something ' +
    'other than what the record says its peer received).',
  flags: { json: { type: 'boolean', help: 'one JSON line' } },
  positionals: [{ name: 'FILE', help: 'record file', required: true }],
} as const;

export const replayCommand: Command = {
  name: 'replay',
  summary: 'replay a recorded distributed run in one process and check it bit for bit',
  example: 'ipiscope replay pingpong.rec',
  spec,
  async run(argv) {
    const a = parseArgs(argv, spec, { env: process.env });
    if (a.help) {
      out(formatHelp('ipiscope replay', spec));
      return 0;
    }
    const file = String(a.positionals.FILE);
    const rec = readRecordFile(file);
    // A run whose core process was killed (a kill or restart fault) recorded no inputs for it:
    // the other cores took messages it sent, which a replay without it cannot produce. Said so,
    // instead of a list of divergences that reads like a corrupt record.
    const n = coreCount(topologyOf(rec.spec));
    const present = new Set(rec.cores.map((c) => c.core));
    const missing = Array.from({ length: n }, (_, c) => c).filter((c) => !present.has(c));
    if (missing.length > 0 && (rec.verdict as { verdict?: string }).verdict === 'invalid') {
      throw new InputError(
        file,
        undefined,
        `the record is of an invalid run (${String((rec.verdict as { invalid_reason?: string }).invalid_reason ?? 'no reason recorded')}) and holds no inputs of core${missing.length === 1 ? '' : 's'} ${missing.join(', ')}: ` +
          'a run that lost a core process cannot be replayed',
      );
    }
    return replayed(file, () => compare(file, rec, a.flags.json === true));
  },
};

/**
 * Runs `body`, the replay of the record `file`. The record was checked as it was read, but only a
 * replay shows that its inputs fit its spec: a machine fed inputs it never asked for (a changed
 * seed, an edited message) trips one of its invariants. That is the record's fault, not a bug of
 * this process: an InputError, never a stack trace nor a verdict.
 */
function replayed(file: string, body: () => number): number {
  try {
    return body();
  } catch (e) {
    if (e instanceof AssertionError || e instanceof TypeError || e instanceof RangeError) {
      throw new InputError(file, undefined, `the record does not replay: ${e instanceof AssertionError ? '' : `${(e as Error).name}: `}${(e as Error).message} (a corrupt record, or one made by another version)`);
    }
    throw e;
  }
}

/** Replays `rec` and prints how it compares with what it recorded; the exit status. */
function compare(file: string, rec: RunRecord, json: boolean): number {
  let r: RunReplayResult;
  let verdictSame = true;
  let verdict: Record<string, unknown> = {};
  if (rec.spec.kind === 'scenario') {
    const spec = rec.spec;
    const recorded = rec.verdict as { end_reason: EndReason; invalid_reason?: string; drained?: boolean; hang_wait?: HangWait; time_scale?: TimeScale };
    // What the run saw live (the hang's wait, the cores' lag behind a paced clock) is taken from
    // the record; everything else is recomputed, from one replay that also feeds the checkers.
    const j = replayAndJudge(rec, (finals) => verdictOf(spec, finals, recorded.end_reason, recorded.invalid_reason, recorded.drained === true, recorded.hang_wait, recorded.time_scale?.lag));
    r = j.replayed;
    const v = j.verdict;
    verdict = v as unknown as Record<string, unknown>;
    // Records made before ignored IPIs were named by their 2019 interleaving have no such field.
    const recordedIgnored = ((rec.verdict as { ignored?: Array<Record<string, unknown>> }).ignored ?? []);
    const named = recordedIgnored.some((i) => 'interleaving' in i);
    const namedV = named ? v : { ...v, ignored: v.ignored.map(({ interleaving: _i, ...rest }) => rest) };
    // Records made before lost-and-found IPIs were judged have no such field.
    const { lost_found: _lf, ...withoutLost } = namedV;
    const compared = 'lost_found' in (rec.verdict as object) ? namedV : withoutLost;
    verdictSame = JSON.stringify(compared) === JSON.stringify(rec.verdict);
  } else {
    r = replayRun(rec);
    verdict = { outcome: litmusOutcome(rec.spec, r.finals).key };
  }
  const same = r.mismatches.length === 0 && r.divergences.length === 0 && verdictSame;
  // Before stop 10 a core's Lamport clock advanced only for the events an observer took: the
  // clocks in such a record's messages disagree with the replay's, and the ignored-IPI judgement
  // (events of all cores merged in Lamport order) could see a write's version before its store.
  const note = rec.spec.kind === 'scenario' && rec.lamport !== 1 && !verdictSame
    ? 'this record was made before Lamport clocks advanced without an observer; its run was judged on events merged against causality, and the judgement differs'
    : undefined;
  if (json) {
    out(JSON.stringify({ same, final_memory_same: r.mismatches.length === 0, verdict_same: verdictSame, ...(note !== undefined ? { note } : {}), divergences: r.divergences, mismatches: r.mismatches, verdict: { ...verdict, console: undefined } }));
  } else {
    if (typeof verdict.console === 'string') out(verdict.console.trimEnd());
    out(`replay of ${file}: ${rec.cores.length} cores, ${rec.cores.reduce((s, c) => s + inputsOf(c), 0)} recorded inputs`);
    out(`final memory and core state: ${r.mismatches.length === 0 ? 'identical' : 'DIFFERENT'}`);
    for (const m of r.mismatches) out(`  ${m}`);
    out(`verdict and console: ${verdictSame ? 'identical' : 'DIFFERENT'}`);
    if (note !== undefined) out(`note: ${note}`);
    out(`divergences: ${r.divergences.length === 0 ? 'none' : r.divergences.length}`);
    for (const d of r.divergences) out(`  ${d}`);
  }
  return same ? 0 : 1;
}
