import { parseArgs, formatHelp } from './args.js';
import type { Command } from './command.js';
import { err, out } from './command.js';
import { UsageError } from '../stdx/index.js';
import { KERNEL_SELECTION_FLAGS, kernelSelection } from './kernel-flags.js';
import { resolveScenario, runSim, builtinScenarioNames } from '../sim/index.js';
import type { SimResult } from '../sim/index.js';
import { versionNames } from '../kernel/index.js';
import { runSimTraced } from '../analyzer/index.js';
import { judgeRunTrace } from '../analyzer/run-trace.js';
import type { RunTraceJudgement } from '../analyzer/run-trace.js';
import { parseSeedList, runSwarm, seedLineText, summarize, summaryDetailLines, type SwarmSeedResult } from '../sim/swarm.js';

const spec = {
  summary:
    'Runs a scenario on the whole machine in one process, on virtual time: deterministic from the seed. ' +
    'Prints the console, /proc/interrupts and the verdict; with --json, the verdict is the last line. ' +
    `Built-in scenarios: ${builtinScenarioNames().join(', ')}; or a scenario file (YAML). ` +
    'Exit status: 0 when the run completed (whatever the verdict), 1 when --expect was given and the ' +
    'verdict differs, 2 for an invalid run or a usage error.',
  flags: {
    kernel: { type: 'string', help: `kernel version: ${versionNames().join(' | ')} (default: the scenario's)` },
    patches: KERNEL_SELECTION_FLAGS.patches,
    revert: KERNEL_SELECTION_FLAGS.revert,
    seed: { type: 'int', min: 0, env: 'IPISCOPE_SEED', conflicts: ['seeds'], help: "seed (default: the scenario's; IPISCOPE_SEED is ignored with --seeds)" },
    seeds: { type: 'string', help: 'swarm: run every seed of this list (e.g. 1-1000 or 1-10,42), a line per seed and a summary; with --expect, exit 1 if any seed differs' },
    jobs: { type: 'int', min: 1, max: 256, help: 'swarm: worker threads (default: the CPUs this process may use)' },
    ipis: { type: 'int', min: 1, help: 'run until this many IPIs were handled (or a hang)' },
    ticksMax: { type: 'int', min: 1, help: 'bound on emulated time, in ticks' },
    watchdogThresh: { type: 'int', min: 1, max: 60, help: "the kernel's watchdog_thresh sysctl in seconds: a soft lockup is reported after twice it (default: the scenario's, 10 as in Linux)" },
    hungTaskTimeout: { type: 'int', min: 1, max: 600, help: "the kernel's hung_task_timeout_secs sysctl: a task asleep uninterruptibly this long is reported hung (default: the scenario's, 120 as in Linux)" },
    demuxReadRelaxed: KERNEL_SELECTION_FLAGS.demuxReadRelaxed,
    traceFile: { type: 'string', help: 'write every span as OTLP/JSON, one export request per line (for ipiscope analyze)' },
    otlp: { type: 'string', help: 'also send the spans over OTLP/HTTP protobuf to this URL (e.g. http://127.0.0.1:4318/v1/traces)' },
    sample: { type: 'number', min: 0, max: 1, help: 'fraction of IPIs traced (default 1)' },
    json: { type: 'boolean', help: 'print the verdict as one JSON line (the last line)' },
    expect: { type: 'enum', values: ['ok', 'hang', 'storm'], help: 'exit 1 unless the verdict is this one' },
  },
  positionals: [{ name: 'SCENARIO', help: 'built-in scenario name or scenario file', required: true }],
} as const;

/** The verdict object of the `--json` contract, with the fields added by ipiscope. */
export function verdictJson(r: SimResult): Record<string, unknown> {
  const { console: _console, proc_interrupts: _proc, explanation: _exp, ...rest } = r;
  return rest;
}

export function exitStatusOf(verdict: string, expect?: string): number {
  if (verdict === 'invalid') return 2;
  return expect !== undefined && verdict !== expect ? 1 : 0;
}

/** Swarm mode: one line per seed (in seed order), then the summary; the exit status of the worst. */
async function swarm(
  spec: string,
  name: string,
  ticksPerSecond: number,
  seeds: number[],
  options: Parameters<typeof runSwarm>[0]['options'],
  jobs: number | undefined,
  json: boolean,
  expect: string | undefined,
): Promise<number> {
  const differs: number[] = [];
  let invalid = 0;
  const line = (r: SwarmSeedResult): void => {
    if (r.verdict === 'invalid') invalid++;
    if (expect !== undefined && r.verdict !== expect) differs.push(r.seed);
    if (json) {
      out(JSON.stringify(r));
      return;
    }
    out(seedLineText(r, ticksPerSecond) + (r.invalid_reason !== undefined ? `  invalid: ${r.invalid_reason}` : ''));
  };
  const { results, jobs: used, wallMs } = await runSwarm({ scenario: spec, seeds, options, ...(jobs !== undefined ? { jobs } : {}), onResult: line });
  const sum = summarize(name, results, used, wallMs, ticksPerSecond);
  if (json) out(JSON.stringify({ ...sum, ...(expect !== undefined ? { expect, differs: differs.slice(0, 50) } : {}) }));
  else {
    const counts = Object.entries(sum.verdicts).map(([v, n]) => `${n} ${v}`).join(', ');
    out('');
    out(`swarm: ${name} on ${sum.kernel}, ${sum.seeds} seed${sum.seeds === 1 ? '' : 's'} on ${used} worker${used === 1 ? '' : 's'}: ${counts}; ${(wallMs / 1000).toFixed(1)} s wall, ${sum.seeds_per_minute} seeds/min`);
    for (const l of summaryDetailLines(sum, expect, differs)) out(l);
  }
  return invalid > 0 ? 2 : differs.length > 0 ? 1 : 0;
}

export const simCommand: Command = {
  name: 'sim',
  summary: 'run a scenario in one process on virtual time (deterministic from --seed)',
  example: 'ipiscope sim host-ipi-2019 --kernel v5.3 --seed 1',
  spec,
  async run(argv) {
    const a = parseArgs(argv, spec, { env: process.env });
    if (a.help) {
      out(formatHelp('ipiscope sim', spec));
      return 0;
    }
    const f = a.flags;
    const kernel = kernelSelection(f);
    const scenario = resolveScenario(String(a.positionals.SCENARIO));
    if (f.jobs !== undefined && f.seeds === undefined) throw new UsageError('--jobs: only with --seeds (a swarm)');
    if (f.seeds !== undefined) {
      if (f.traceFile !== undefined || f.otlp !== undefined) throw new UsageError('--seeds: a swarm is not traced; trace one seed of it with --seed N --trace-file F');
    }
    const simOpts = {
      ...kernel,
      ...(f.seed !== undefined ? { seed: f.seed } : {}),
      ...(f.ipis !== undefined ? { ipis: f.ipis } : {}),
      ...(f.ticksMax !== undefined ? { ticksMax: f.ticksMax } : {}),
      ...(f.demuxReadRelaxed !== undefined ? { demuxReadRelaxed: f.demuxReadRelaxed } : {}),
      ...(f.watchdogThresh !== undefined ? { watchdogThreshSecs: f.watchdogThresh } : {}),
      ...(f.hungTaskTimeout !== undefined ? { hungTaskTimeoutSecs: f.hungTaskTimeout } : {}),
    };
    if (f.seeds !== undefined) {
      const seeds = parseSeedList(f.seeds);
      const { seed: _seed, ...swarmOpts } = simOpts as typeof simOpts & { seed?: number };
      return swarm(String(a.positionals.SCENARIO), scenario.name, scenario.clock.ticksPerSecond, seeds, swarmOpts, f.jobs, f.json === true, f.expect);
    }
    const traced = f.traceFile !== undefined || f.otlp !== undefined;
    if (f.sample !== undefined && !traced) throw new UsageError('--sample needs --trace-file or --otlp');
    if (f.otlp !== undefined && !URL.canParse(f.otlp)) throw new UsageError(`--otlp ${f.otlp} is not a URL; give e.g. http://127.0.0.1:4318/v1/traces`);
    let spansDropped = 0;
    let r;
    if (traced) {
      const t = await runSimTraced(scenario, simOpts, {
        ...(f.traceFile !== undefined ? { traceFile: f.traceFile } : {}),
        ...(f.otlp !== undefined ? { otlpUrl: f.otlp } : {}),
        ...(f.sample !== undefined ? { sampleRatio: f.sample } : {}),
      });
      r = t.result;
      // The verdict is the machine's; the trace is not whole when an exporter failed: say so.
      spansDropped = t.stats.spanCountDropped;
      if (spansDropped > 0) {
        err(`warning: ${spansDropped} of ${t.stats.spanCount} spans were not delivered${f.otlp !== undefined ? ` to ${f.otlp} (is a collector listening there?)` : ''}; the trace is incomplete, the verdict is not affected`);
      }
    } else {
      r = runSim(scenario, simOpts);
    }
    // The span file judged by the analyzer, as `ipiscope analyze` would: each ignored IPI's trace
    // id (the link into Jaeger or the report), and the cross-check with the machine's ground truth.
    let trace: RunTraceJudgement | undefined;
    let traceIds = new Map<string, string>();
    if (f.traceFile !== undefined) {
      const j = await judgeRunTrace(f.traceFile, r.ignored);
      trace = j.judgement;
      traceIds = j.traceIds;
    }
    if (f.json) {
      const v = verdictJson(r);
      if (spansDropped > 0) (v as Record<string, unknown>).trace_spans_dropped = spansDropped;
      if (trace !== undefined) {
        v.ignored = r.ignored.map((i) => ({ ...i, trace_id: traceIds.get(i.ipi_id) ?? '' }));
        v.trace = trace;
      }
      out(JSON.stringify(v));
    } else {
      out(`SEED ${r.seed}  scenario ${r.scenario}  kernel ${r.kernel}  patches ${r.patches.join(',')}`);
      out('');
      out(r.console.trimEnd());
      out('');
      out('# cat /proc/interrupts');
      out(r.proc_interrupts.trimEnd());
      out('');
      out(`verdict: ${r.verdict.toUpperCase()}  (IPIs sent ${r.ipis_sent}, handled ${r.ipis_handled}, ignored ${r.ignored.length}; ` +
        `${r.emulated_seconds.toFixed(3)} emulated s, ${r.wall_ms} ms wall)`);
      if (r.verdict === 'ok' && r.end_reason === 'ticks-max') {
        out(`ok means: no IPI was ignored and no CPU hung in the ${r.emulated_seconds.toFixed(1)} emulated s that ran (the tick limit, --ticks-max ${r.ticks}); a rare race may need a longer run or many seeds (--seeds)`);
      }
      if (r.explanation.trim() !== '') out(r.explanation.trimEnd());
      for (const i of r.ignored) if (traceIds.has(i.ipi_id)) out(`ignored IPI ${i.ipi_id}: trace ${traceIds.get(i.ipi_id)}`);
      if (trace !== undefined) {
        out(`trace: ${trace.file} (${trace.spans} spans); analyzer: ${trace.ipis} IPIs, ${trace.ignored.length} ignored, ` +
          (trace.agrees ? 'the same set as the machine' : `differs from the machine (only machine: ${trace.only_run.join(' ') || 'none'}; only trace: ${trace.only_trace.join(' ') || 'none'})`));
      }
    }
    return exitStatusOf(r.verdict, f.expect);
  },
};
