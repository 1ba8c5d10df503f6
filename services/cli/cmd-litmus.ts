import { parseArgs, formatHelp, givenOnCommandLine } from './args.js';
import type { Command } from './command.js';
import { out, err } from './command.js';
import { conditionText, loadLitmusPaths } from '../litmus/index.js';
import { placementMachine, runLitmus } from '../litmus/run.js';
import type { LitmusResult, Placement } from '../litmus/run.js';
import type { LitmusTest } from '../litmus/index.js';
import { InputError, UsageError } from '../stdx/index.js';
import { Controller, type StartedController } from '../controller/controller.js';
import { LitmusInputError, runLitmusNats } from '../controller/litmus-nats.js';
import { coreCount } from '../sim/replay.js';

const spec = {
  summary:
    'Runs herdtools7 PPC litmus tests on the emulated machine and prints, per test, the histogram ' +
    'of final states and whether the condition was observed.',
  flags: {
    runs: { type: 'int', default: 1000, min: 1, max: 10_000_000, help: 'runs per test' },
    seed: { type: 'string', default: '1', env: 'IPISCOPE_SEED', help: 'seed of the runs (same seed, same output)' },
    placement: {
      type: 'enum',
      values: ['cores', 'smt'],
      default: 'cores',
      help: 'one litmus thread per core, or all on SMT siblings of one core',
    },
    locations: {
      type: 'enum',
      values: ['broadcast', 'directory'],
      default: 'broadcast',
      help: 'broadcast: every write goes to every core; directory: read misses fetch from the home, writes and syncs go to the sharers only (the coherence the kernel scenarios run on)',
    },
    mode: {
      type: 'enum',
      values: ['sim', 'nats'],
      default: 'sim',
      help: 'sim: the seeded machine in this process; nats: one OS process per emulated core, over NATS (each run a fresh machine on the same processes)',
    },
    nats: { type: 'string', env: 'IPISCOPE_NATS', help: 'NATS URL(s), comma-separated, for --mode nats (default: a private nats-server on a free loopback port)' },
    instrMax: { type: 'int', min: 1, max: 100_000_000, help: 'instructions a thread may execute in one run; a run past it is invalid (a loop that never exits, or a longer one); default 10000, 200000 with --mode nats (a spinning thread runs thousands of steps while a message crosses the bus)' },
    json: { type: 'boolean', help: 'one JSON object per test per line' },
  },
  rest: { name: 'PATH', help: 'litmus files or directories of them' },
} as const;

export const litmusCommand: Command = {
  name: 'litmus',
  summary: 'run POWER litmus tests (herdtools7 PPC syntax) and print outcome histograms',
  example: 'ipiscope litmus test/litmus --runs 10000 --placement smt',
  spec,
  async run(argv) {
    const a = parseArgs(argv, spec, { env: process.env });
    if (a.help) {
      out(formatHelp('ipiscope litmus', spec));
      return 0;
    }
    const paths = a.rest;
    if (paths.length === 0) {
      err('ipiscope litmus: give at least one litmus file or directory (e.g. test/litmus)');
      return 2;
    }
    const mode = a.flags.mode;
    const placement = a.flags.placement as Placement;
    const locations = a.flags.locations as 'broadcast' | 'directory';
    // The environment may name a NATS for every command; on the command line, --nats asks for it.
    if (mode === 'sim' && givenOnCommandLine(argv, 'nats')) {
      throw new UsageError('--nats: only with --mode nats (sim mode runs in this process, without a bus)');
    }
    const entries = loadLitmusPaths(paths);
    // nats: one set of core processes serves every test, as many as the largest test needs (a
    // smaller test leaves the others idle); started once the first test is due, stopped at the end.
    let session: StartedController | undefined;
    const coresNeeded = Math.max(0, ...entries.map((e) => (e.test === undefined ? 0 : coresOf(e.test, placement))));
    let status = 0;
    try {
      for (const entry of entries) {
        if (entry.error !== undefined || entry.test === undefined) {
          err(`ipiscope litmus: ${entry.error?.message ?? `${entry.file}: unreadable`}`);
          status = 2;
          continue;
        }
        let r: LitmusResult;
        const instrMax = a.flags.instrMax ?? (mode === 'nats' ? 200_000 : 10_000);
        if (mode === 'nats') session ??= await new Controller({ cores: coresNeeded, ...(a.flags.nats !== undefined ? { servers: a.flags.nats.split(',') } : {}) }).start();
        try {
          r =
            session !== undefined
              ? await runLitmusNats(entry.test, entry.text ?? '', { runs: a.flags.runs, seed: a.flags.seed, placement, session, locations, instrMax })
              : runLitmus(entry.test, { runs: a.flags.runs, seed: a.flags.seed, placement, locations, instrMax });
        } catch (e) {
          if (!(e instanceof InputError || e instanceof LitmusInputError)) throw e;
          err(`ipiscope litmus: ${e.message}`);
          status = 2;
          continue;
        }
        if (r.invalid > 0) status = Math.max(status, 1);
        if (a.flags.json) printJson(entry.test, r, a.flags.placement, a.flags.seed, mode, locations);
        else printText(entry.test, r);
      }
    } finally {
      await session?.stop();
    }
    return status;
  },
};

/** Core processes a test needs in nats mode: one per thread, or SMT siblings packed in cores. */
function coresOf(test: LitmusTest, placement: Placement): number {
  return coreCount(placementMachine(test.threads.length, placement).topology);
}

function printJson(test: LitmusTest, r: LitmusResult, placement: string, seed: string, mode: string, locations: string): void {
  const o = {
    name: r.name,
    runs: r.runs,
    hits: r.hits,
    outcomes: r.outcomes,
    file: test.file,
    placement,
    seed,
    mode,
    locations,
    condition: `${test.quantifier} (${conditionText(test.condition)})`,
    invalid: r.invalid,
    ...(test.filter !== undefined ? { filter: conditionText(test.filter), filtered: r.filtered ?? 0 } : {}),
    verdict: litmusVerdict(test, r),
    ...(r.invalidReason !== undefined ? { invalid_reason: r.invalidReason } : {}),
  };
  out(JSON.stringify(o));
}

/** herd's verdict line: `Ok` when the runs satisfy the condition's quantifier, else `No`; with no
 * valid run there is nothing to judge. */
export function litmusVerdict(test: LitmusTest, r: LitmusResult): 'Ok' | 'No' | 'Undetermined' {
  const valid = r.runs - r.invalid - (r.filtered ?? 0);
  if (valid === 0) return 'Undetermined';
  const observed = r.hits > 0;
  if (test.quantifier === 'exists') return observed ? 'Ok' : 'No';
  if (test.quantifier === '~exists') return observed ? 'No' : 'Ok';
  return r.hits === valid ? 'Ok' : 'No';
}

function printText(test: LitmusTest, r: LitmusResult): void {
  out(`Test ${r.name}`);
  out(`States ${Object.keys(r.outcomes).length}`);
  for (const [state, n] of Object.entries(r.outcomes)) out(`${String(n).padStart(9)} : ${state}`);
  const neg = r.runs - r.invalid - (r.filtered ?? 0) - r.hits;
  out(litmusVerdict(test, r));
  out(`Witnesses`);
  out(`Positive: ${r.hits}, Negative: ${neg}`);
  out(`Condition ${test.quantifier} (${conditionText(test.condition)})`);
  const obs = r.runs === r.invalid + (r.filtered ?? 0) ? 'Undetermined' : r.hits === 0 ? 'Never' : neg === 0 ? 'Always' : 'Sometimes';
  out(`Observation ${r.name} ${obs} ${r.hits} ${neg}`);
  if (test.filter !== undefined) out(`Filter ${conditionText(test.filter)}: ${r.filtered ?? 0} runs left out`);
  if (r.invalid > 0) out(`Invalid runs: ${r.invalid} (${r.invalidReason ?? 'unknown reason'}); they are not counted above`);
  out('');
}
