import { parseArgs, formatHelp } from './args.js';
import type { Command } from './command.js';
import { out, err } from './command.js';
import { allBenches } from '../bench/index.js';
import type { Figure } from '../bench/figures.js';

const spec = {
  summary: 'Runs benchmarks (all, or those whose name starts with a given NAME) and prints one figure per line.',
  flags: {
    json: { type: 'boolean', help: 'one JSON object per figure per line: {"bench", "value", "unit", ...}' },
    list: { type: 'boolean', help: 'list the benchmarks and exit' },
  },
  rest: { name: 'NAME', help: 'benchmark names or name prefixes' },
} as const;

export const benchCommand: Command = {
  name: 'bench',
  summary: 'run the benchmarks (speed, latency, memory) and print figures, as JSON with --json',
  example: 'ipiscope bench sim.mem_ops_per_s --json',
  spec,
  async run(argv) {
    const a = parseArgs(argv, spec, { env: process.env });
    if (a.help) {
      out(formatHelp('ipiscope bench', spec));
      return 0;
    }
    const benches = allBenches();
    if (a.flags.list) {
      for (const b of benches) out(`${b.name.padEnd(32)} ${b.summary}`);
      return 0;
    }
    const chosen = a.rest.length === 0 ? benches : benches.filter((b) => a.rest.some((n) => b.name.startsWith(n) || n.startsWith(b.name)));
    if (chosen.length === 0) {
      err(`ipiscope bench: no benchmark matches ${a.rest.join(', ')}; see ipiscope bench --list`);
      return 2;
    }
    for (const b of chosen) {
      const figs = await b.run();
      for (const f of figs) {
        if (a.flags.json) out(JSON.stringify(f));
        else out(`${f.bench.padEnd(36)} ${String(f.value).padStart(14)} ${f.unit}${barsOf(f)}`);
      }
    }
    return 0;
  },
};

/** A figure's bar and its ratio to it, for the human output (the JSON has every field). */
function barsOf(f: Figure): string {
  const shown = BAR_FIELDS.filter((k) => typeof f[k] === 'number').map((k) => `${k} ${String(f[k])}`);
  return shown.length === 0 ? '' : `   (${shown.join(', ')})`;
}

const BAR_FIELDS = ['bar_us', 'bar_mb', 'ratio', 'bar_us_p50', 'ratio_p50'] as const;
