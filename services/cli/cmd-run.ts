import { parseArgs, formatHelp } from './args.js';
import type { Command } from './command.js';
import { out, err } from './command.js';
import { UsageError } from '../stdx/index.js';
import { resolveScenario } from '../sim/index.js';
import { coreCount } from '../sim/replay.js';
import { resolveMachine } from '../machine/topology.js';
import { loadFaultPlan } from '../bus/fault-plan.js';
import { runScenarioDistributed } from '../controller/run-scenario.js';

const spec = {
  summary:
    'Boots the scenario as one OS process per emulated physical core, connected over NATS, runs it until ' +
    'the IPI goal, a hang or the duration, and prints the console, the verdict and the bus counters. ' +
    'Without --nats a private nats-server is started on a free loopback port and stopped at the end.',
  flags: {
    kernel: { type: 'string', help: 'kernel version (v3.5 ... v5.4; default: the scenario\'s)' },
    seed: { type: 'int', min: 0, help: 'seed of the machine and the workload (default: the scenario\'s)' },
    cores: { type: 'int', min: 1, max: 256, help: 'core processes; must match the scenario\'s machine' },
    duration: { type: 'duration', default: '30s', help: 'wall-clock bound of the run' },
    ipis: { type: 'int', min: 0, help: 'stop after this many handled IPIs (default: the scenario\'s)' },
    nats: { type: 'string', env: 'IPISCOPE_NATS', help: 'NATS URL(s), comma-separated' },
    faults: { type: 'string', help: 'fault plan file (YAML or JSON)' },
    record: { type: 'string', help: 'write the run record (every core\'s inbox) to this file' },
    json: { type: 'boolean', help: 'print the verdict as one JSON line' },
  },
  positionals: [{ name: 'SCENARIO', help: 'built-in scenario name or scenario file', required: true }],
} as const;

export const runCommand: Command = {
  name: 'run',
  summary: 'run a scenario distributed: one process per core over NATS',
  example: 'ipiscope run pingpong --ipis 200 --record runs/pingpong.json --json',
  spec,
  async run(argv) {
    const a = parseArgs(argv, spec, { env: process.env });
    if (a.help) {
      out(formatHelp('ipiscope run', spec));
      return 0;
    }
    const scenario = resolveScenario(String(a.positionals.SCENARIO));
    const n = coreCount(resolveMachine(scenario.machine));
    if (a.flags.cores !== undefined && a.flags.cores !== n) {
      throw new UsageError(`--cores ${a.flags.cores}: scenario ${scenario.name} runs on ${scenario.machine}, which has ${n} cores; omit --cores or pick a scenario with that machine`);
    }
    const plan = a.flags.faults !== undefined ? loadFaultPlan(a.flags.faults) : undefined;
    const r = await runScenarioDistributed({
      scenario,
      ...(a.flags.kernel !== undefined ? { kernel: a.flags.kernel } : {}),
      ...(a.flags.seed !== undefined ? { seed: a.flags.seed } : {}),
      ...(a.flags.nats !== undefined ? { servers: a.flags.nats.split(',') } : {}),
      ...(a.flags.ipis !== undefined ? { ipis: a.flags.ipis } : {}),
      ...(plan !== undefined ? { faultPlan: plan } : {}),
      ...(a.flags.record !== undefined ? { recordFile: a.flags.record } : {}),
      durationMs: a.flags.duration,
      log: (l) => err(l),
    });
    const v = r.verdict;
    if (a.flags.json) {
      const { console: _c, ...rest } = v;
      out(JSON.stringify({ ...rest, processes: r.live.processes, wall_ms: r.live.wall_ms, bus: r.live.bus, faults_injected: r.live.faults_injected, bus_msgs_per_s: r.live.bus_msgs_per_s, ipis_per_s: r.live.ipis_per_s, drain: r.live.drain, wait_steps_max: r.live.wait_steps_max }));
    } else {
      out(v.console.trimEnd());
      out(`verdict: ${v.verdict.toUpperCase()} (${v.end_reason}) — ${v.ipis_handled} of ${v.ipis_sent} IPIs handled, ${v.ignored.length} ignored, ${r.live.processes} core processes, ${r.live.wall_ms} ms`);
      if (r.live.drain !== undefined) out(`drain: ${r.live.drain.settled ? 'settled' : 'did not settle'} after ${r.live.drain.waves} waves, ${r.live.drain.wallMs} ms`);
      if (v.invalid_reason !== undefined) out(`invalid: ${v.invalid_reason}`);
      if (a.flags.record !== undefined) out(`record: ${a.flags.record} (replay with: ipiscope replay ${a.flags.record})`);
    }
    return v.verdict === 'ok' ? 0 : v.verdict === 'invalid' ? 2 : 1;
  },
};
