import { parseArgs, formatHelp } from './args.js';
import type { Command } from './command.js';
import { out } from './command.js';
import { resolveScenario, bisect } from '../sim/index.js';
import { parseSeedList } from '../sim/swarm.js';
import { versionNames } from '../kernel/index.js';

const spec = {
  summary:
    'Walks the ordered list of modelled patches from the good kernel version to the bad one, running the ' +
    'scenario in sim at each step, and names the first patch at which the verdict changes.',
  flags: {
    good: { type: 'string', required: true, help: `a kernel version whose verdict is the reference (${versionNames().join(' | ')})` },
    bad: { type: 'string', required: true, help: 'the kernel version that behaves differently' },
    seeds: { type: 'string', default: '1,2,3', help: 'seeds run at each step, as sim --seeds takes them (e.g. 1-3,7; any non-ok verdict counts)' },
    ticksMax: { type: 'int', min: 1, help: 'bound on emulated time per run, in ticks' },
    json: { type: 'boolean', help: 'print the result as one JSON line' },
  },
  positionals: [{ name: 'SCENARIO', help: 'built-in scenario name or scenario file', required: true }],
} as const;

export const bisectCommand: Command = {
  name: 'bisect',
  summary: 'name the first modelled kernel patch at which a scenario\'s verdict changes',
  example: 'ipiscope bisect host-ipi-2019 --good v3.6 --bad v5.3',
  spec,
  async run(argv) {
    const a = parseArgs(argv, spec, { env: process.env });
    if (a.help) {
      out(formatHelp('ipiscope bisect', spec));
      return 0;
    }
    // The same seed lists as `sim --seeds` (ranges too); an empty entry is an error, never seed 0.
    const seeds = parseSeedList(a.flags.seeds, 10_000);
    const scenario = resolveScenario(String(a.positionals.SCENARIO));
    const r = bisect(scenario, {
      good: a.flags.good,
      bad: a.flags.bad,
      seeds,
      ...(a.flags.ticksMax !== undefined ? { ticksMax: a.flags.ticksMax } : {}),
    });
    if (a.flags.json) {
      out(JSON.stringify({
        first: r.first === null ? null : { commit: r.first.commit, subject: r.first.subject },
        platform: r.platform.map((p) => ({ commit: p.commit, subject: p.subject })),
        good_verdict: r.goodVerdict,
        bad_verdict: r.badVerdict,
        runs: r.runs,
      }));
      return r.first === null ? 1 : 0;
    }
    if (r.platform.length > 0) {
      out(`platform patches kept at every step (the machine needs them): ${r.platform.map((p) => p.commit).join(', ')}`);
    }
    for (const run of r.runs) {
      out(`  ${run.verdict.padEnd(7)} seed ${String(run.seed).padEnd(4)} ${String(run.wall_ms).padStart(7)} ms  [${run.patches.map((c) => c.slice(0, 12)).join(' ')}]`);
    }
    if (r.first === null) {
      out(`no modelled patch between ${a.flags.good} and ${a.flags.bad} changes the verdict (${r.goodVerdict})`);
      return 1;
    }
    out(`first patch that changes the verdict (${r.goodVerdict} -> ${r.badVerdict}):`);
    out(`  ${r.first.commit.slice(0, 12)} ("${r.first.subject}")`);
    return 0;
  },
};
