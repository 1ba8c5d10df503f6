import { parseArgs, formatHelp } from './args.js';
import type { Command } from './command.js';
import { out, err } from './command.js';
import { UsageError } from '../stdx/index.js';
import { KERNEL_SELECTION_FLAGS, kernelSelection } from './kernel-flags.js';
import { checkOutputFile } from './output-file.js';
import { resolveScenario } from '../sim/index.js';
import { withHungTaskTimeout, withWatchdogThresh } from '../sim/run-sim.js';
import { coreCount } from '../sim/replay.js';
import { resolveMachine } from '../machine/topology.js';
import { checkFaultPlanCores, loadFaultPlan, processFaultsOf } from '../bus/fault-plan.js';
import { isRunId } from '../bus/nats-transport.js';
import { distTicksPerSecond, pacedScenario, runScenarioDistributed, runSeedsDistributed, scenarioSpecOf, seedRecordFile } from '../controller/run-scenario.js';
import type { RunScenarioOptions, RunScenarioResult, RunVerdict } from '../controller/run-scenario.js';
import { firstIgnoredOf, parseSeedList, seedLineText, summarize, summaryDetailLines, type SwarmSeedResult } from '../sim/swarm.js';
import { ppcMsgName, XICS_GUEST_WAKE } from '../kernel/index.js';
import { judgeRunTrace } from '../analyzer/run-trace.js';
import type { RunTraceJudgement } from '../analyzer/run-trace.js';

const spec = {
  summary:
    'Boots the scenario as one OS process per emulated physical core, connected over NATS, runs it until ' +
    'the IPI goal, a hang or the duration, and prints the console, the verdict and the bus counters. ' +
    'Without --nats a private nats-server is started on a free loopback port and stopped at the end. ' +
    'Exit status: 0 for ok, 1 for a hang or a storm (with --expect: 0 when the verdict is the one expected, else 1), 2 for an invalid run or a usage error.',
  flags: {
    kernel: { type: 'string', help: 'kernel version (v3.5 ... v5.4; default: the scenario\'s)' },
    ...KERNEL_SELECTION_FLAGS,
    stopAtLost: { type: 'boolean', optional: true, help: "end the run at the first CALL_FUNCTION lost to the 2019 race (its doorbell or XICS interrupt taken as a guest wake-up with the message pending, unread half a second later) while a CPU waits for it, then drain and judge; --no-stop-at-lost runs on to the kernel's soft lockup or the duration (default: the scenario's; on for host-ipi-2019 and host-ipi-2019-clear)" },
    seed: { type: 'int', min: 0, conflicts: ['seeds'], help: 'seed of the machine and the workload (default: the scenario\'s)' },
    seeds: { type: 'string', help: 'swarm: run every seed of this list (e.g. 1-8 or 1-4,9) one after the other on the same core processes (started once; later seeds start in about a second, on JIT-warm cores), a line per seed and a summary; --record FILE writes FILE.seed-N per seed' },
    cores: { type: 'int', min: 1, max: 256, help: 'core processes; must match the scenario\'s machine' },
    duration: { type: 'duration', help: "wall-clock bound of the run (default: the scenario's distributed.durationSecs, else 30s; wake-list-2012: 90s; host-ipi-2019 and host-ipi-2019-clear: 300s)" },
    ipis: { type: 'int', min: 0, help: 'stop after this many handled IPIs (default: the scenario\'s)' },
    ticksMax: { type: 'int', min: 1, help: 'bound on emulated time, in ticks, as sim\'s: the run ends once a core has passed it (the controller looks 4 times a wall second when paced), then drains; default: none but --duration' },
    warmUp: { type: 'duration', help: 'first run the scenario this long on the next seed (with --seeds: the one after the largest), on the same core processes, and throw it away, so that the run starts on JIT-warm cores (cold, their bus hops cost 3-4 times sim\'s ticks for the first minutes); default: none' },
    watchdogThresh: { type: 'int', min: 1, max: 60, help: "the kernel's watchdog_thresh sysctl in seconds: a soft lockup is reported, and the run ended, after twice it (default: the scenario's, 10 as in Linux)" },
    hungTaskTimeout: { type: 'int', min: 1, max: 600, help: "the kernel's hung_task_timeout_secs sysctl: a task asleep uninterruptibly this long is reported hung, and the run ended (default: the scenario's, 120 as in Linux)" },
    tickUs: { type: 'int', min: 0, help: 'pace every core to one wall clock at this many µs per tick, so a bus hop costs a few ticks as in sim (0: unpaced; default: the scenario\'s distributed.tickUs)' },
    nats: { type: 'string', env: 'IPISCOPE_NATS', help: 'NATS URL(s), comma-separated' },
    faults: { type: 'string', help: 'fault plan file (YAML or JSON); change it during the run with `ipiscope faults RUN_ID PLAN`' },
    runId: { type: 'string', help: 'the run\'s id on NATS (letters, digits, - and _; default: made from the pid and the time), printed at the start' },
    adopt: { type: 'boolean', help: 'do not start the core processes: wait for the scenario\'s cores to register, started elsewhere with `node dist/services/core/main.js --run RUN_ID --core N --nats URL` (docker compose does); needs --run-id and --nats; they are told to exit at the end' },
    adoptTimeout: { type: 'duration', default: '60s', help: 'with --adopt: how long to wait for every core to register' },
    record: { type: 'string', help: 'write the run record (every core\'s inbox) to this file' },
    traceFile: { type: 'string', help: 'write every span of every core as OTLP/JSON, one export request per line (for ipiscope analyze); each core writes FILE.gen-G.core-N.part, merged into FILE at the end' },
    otlp: { type: 'string', env: 'IPISCOPE_OTLP_URL', help: 'each core also sends its spans over OTLP/HTTP protobuf to this URL (e.g. http://127.0.0.1:4318/v1/traces)' },
    sample: { type: 'number', min: 0, max: 1, help: 'fraction of IPIs traced (default 1; below 1 the analyzer sees only those)' },
    json: { type: 'boolean', help: 'print the verdict as one JSON line (with --seeds: one per seed, then the summary)' },
    expect: { type: 'enum', values: ['ok', 'hang', 'storm'], help: 'exit 0 when the verdict is this one (with --seeds: every seed\'s), else 1; an invalid run still exits 2' },
  },
  positionals: [{ name: 'SCENARIO', help: 'built-in scenario name or scenario file', required: true }],
} as const;

export const runCommand: Command = {
  name: 'run',
  summary: 'run a scenario distributed: one process per core over NATS',
  example: 'ipiscope run pingpong --ipis 200 --record pingpong.rec --json',
  spec,
  async run(argv) {
    const a = parseArgs(argv, spec, { env: process.env });
    if (a.help) {
      out(formatHelp('ipiscope run', spec));
      return 0;
    }
    const { kernel, ...sel } = kernelSelection(a.flags);
    const base = withHungTaskTimeout(withWatchdogThresh(resolveScenario(String(a.positionals.SCENARIO)), a.flags.watchdogThresh), a.flags.hungTaskTimeout);
    const ablated = a.flags.demuxReadRelaxed === undefined ? base : { ...base, ablations: { ...base.ablations, demuxReadRelaxed: a.flags.demuxReadRelaxed } };
    const scenario =
      a.flags.stopAtLost === undefined ? ablated : { ...ablated, distributed: { tickUs: 0, ...ablated.distributed, stopAtLost: a.flags.stopAtLost } };
    // Checked here, before any process starts: an unknown commit or a revert of one not in the version.
    scenarioSpecOf(scenario, kernel, a.flags.seed, sel);
    const n = coreCount(resolveMachine(scenario.machine));
    if (a.flags.cores !== undefined && a.flags.cores !== n) {
      throw new UsageError(`--cores ${a.flags.cores}: scenario ${scenario.name} runs on ${scenario.machine}, which has ${n} cores; omit --cores or pick a scenario with that machine`);
    }
    const plan = a.flags.faults !== undefined ? loadFaultPlan(a.flags.faults) : undefined;
    if (plan !== undefined) checkFaultPlanCores(String(a.flags.faults), plan, n);
    const f = a.flags;
    if (f.sample !== undefined && f.traceFile === undefined && f.otlp === undefined) throw new UsageError('--sample needs --trace-file or --otlp');
    if (f.traceFile !== undefined) checkOutputFile('--trace-file', f.traceFile);
    if (f.record !== undefined) checkOutputFile('--record', f.record);
    if (f.otlp !== undefined && !URL.canParse(f.otlp)) throw new UsageError(`--otlp ${f.otlp} is not a URL; give e.g. http://127.0.0.1:4318/v1/traces`);
    const traced = f.traceFile !== undefined || f.otlp !== undefined;
    if (f.runId !== undefined) checkRunId(f.runId);
    if (f.adopt === true && (f.runId === undefined || f.nats === undefined)) {
      throw new UsageError('--adopt: give --run-id (the --run the cores were started with) and --nats (the NATS they use)');
    }
    if (f.adopt === true && plan !== undefined && processFaultsOf(plan).length > 0) {
      throw new UsageError(`--faults ${f.faults ?? ''}: pause/kill/restart need core processes this controller starts; with --adopt the cores are someone else's (leave them out, or run without --adopt)`);
    }
    if (f.seeds !== undefined && traced) throw new UsageError('--seeds: a swarm is not traced; trace one seed of it with --seed N --trace-file F');
    if (f.seeds !== undefined && plan !== undefined && processFaultsOf(plan).some((x) => x.kind !== 'pause')) {
      throw new UsageError(`--faults ${f.faults ?? ''}: kill and restart change the core processes, which a swarm (--seeds) runs every seed on; run such a plan on one seed (--seed N)`);
    }
    const options = {
      scenario,
      ...(kernel !== undefined ? { kernel } : {}),
      ...sel,
      ...(a.flags.nats !== undefined ? { servers: a.flags.nats.split(',') } : {}),
      ...(a.flags.ipis !== undefined ? { ipis: a.flags.ipis } : {}),
      ...(f.ticksMax !== undefined ? { ticksMax: f.ticksMax } : {}),
      ...(a.flags.tickUs !== undefined ? { tickUs: a.flags.tickUs } : {}),
      ...(plan !== undefined ? { faultPlan: plan } : {}),
      ...(a.flags.record !== undefined ? { recordFile: a.flags.record } : {}),
      ...(f.runId !== undefined ? { runId: f.runId } : {}),
      ...(f.adopt === true ? { adopt: true, adoptTimeoutMs: f.adoptTimeout } : {}),
      durationMs: a.flags.duration ?? (scenario.distributed?.durationSecs ?? 30) * 1000,
      ...(f.warmUp !== undefined ? { warmUpMs: f.warmUp } : {}),
      log: (l: string) => err(l),
    };
    if (f.seeds !== undefined) return runSwarm(options, parseSeedList(f.seeds), f.json === true, f.expect, f.record);
    const r = await runScenarioDistributed({
      ...options,
      ...(a.flags.seed !== undefined ? { seed: a.flags.seed } : {}),
      ...(traced
        ? { trace: { ...(f.traceFile !== undefined ? { traceFile: f.traceFile } : {}), ...(f.otlp !== undefined ? { otlpUrl: f.otlp } : {}), ...(f.sample !== undefined ? { sampleRatio: f.sample } : {}) } }
        : {}),
    });
    const v = r.verdict;
    // The emulated time the machine ran (its furthest core, the drain included), on the clock of
    // its detectors: what an `ok` covers.
    const paced = pacedScenario(scenario, a.flags.tickUs);
    const emulatedSeconds = Math.round((v.steps_max / distTicksPerSecond(paced)) * 1000) / 1000;
    // The merged span file judged by the analyzer: trace ids for the verdict, and the cross-check.
    let trace: (RunTraceJudgement & { parts: number; missing: number[] }) | undefined;
    let traceIds = new Map<string, string>();
    if (r.live.trace !== undefined && r.live.trace.file !== '') {
      // The cores trace for a drained run (an IPI unconsumed at the end is ignored at once); a run
      // that was not drained (a storm) is judged with the settle time its verdict used.
      const j = await judgeRunTrace(r.live.trace.file, v.ignored, v.drained ? {} : { settleTicks: Math.floor(paced.limits.settleSecs * distTicksPerSecond(paced)) });
      trace = { ...j.judgement, parts: r.live.trace.parts, missing: r.live.trace.missing };
      traceIds = j.traceIds;
    }
    if (a.flags.json) {
      const { console: _c, ...rest } = v;
      if (traced) rest.ignored = v.ignored.map((i) => ({ ...i, trace_id: traceIds.get(i.ipi_id) ?? '' }));
      out(JSON.stringify({ ...rest, emulated_seconds: emulatedSeconds, ...(trace !== undefined ? { trace } : {}), processes: r.live.processes, wall_ms: r.live.wall_ms, bus: r.live.bus, faults_injected: r.live.faults_injected, faults_by_link: r.live.faults_by_link, fault_plan_updates: r.live.fault_plan_updates, bus_msgs_per_s: r.live.bus_msgs_per_s, ipis_per_s: r.live.ipis_per_s, drain: r.live.drain, wait_steps_max: r.live.wait_steps_max, end_seen_ms: r.live.end_seen_ms, start_ms: r.live.start_ms, core_memory: r.live.core_memory, ...(r.live.warm_up !== undefined ? { warm_up: r.live.warm_up } : {}), ...(r.live.record_error !== undefined ? { record_error: r.live.record_error } : {}) }));
    } else {
      out(v.console.trimEnd());
      for (const l of verdictLines(v, { processes: r.live.processes, wallMs: r.live.wall_ms, emulatedSeconds, traceIds })) out(l);
      out(`ended by ${v.end_reason}, seen ${(r.live.end_seen_ms / 1000).toFixed(1)} s after the start (tick 0 at ${(r.live.start_ms / 1000).toFixed(1)} s: spawning and start-up${r.live.warm_up !== undefined ? `, and the warm-up on seed ${r.live.warm_up.seed}: ${(r.live.warm_up.ms / 1000).toFixed(1)} s, ${r.live.warm_up.ipis_handled} IPIs, thrown away` : ''})`);
      if (r.live.drain !== undefined) out(`drain: ${r.live.drain.settled ? 'settled' : 'did not settle'} after ${r.live.drain.waves} waves, ${r.live.drain.wallMs} ms`);
      if (r.live.core_memory.rss_mb_max !== undefined) out(`core processes: at most ${r.live.core_memory.rss_mb_max} MB resident each (${r.live.core_memory.private_mb_max ?? '?'} MB private, ${r.live.core_memory.pss_mb_max ?? '?'} MB proportional share; V8 heap ${r.live.core_memory.heap_used_mb_max} MB used of ${r.live.core_memory.heap_total_mb_max} MB)`);
      for (const u of r.live.fault_plan_updates) out(`fault plan version ${u.version} taken live at ${u.at_ms} ms: ${u.rules} rules, ${u.process_faults_scheduled} process faults scheduled${u.process_faults_not_applicable > 0 ? `, ${u.process_faults_not_applicable} not applicable (adopted cores)` : ''}`);
      const injected = Object.entries(r.live.faults_injected).filter(([, n]) => n > 0);
      if (injected.length > 0) out(`faults injected: ${injected.map(([k, n]) => `${k} ${n}`).join(', ')}`);
      const links = Object.entries(r.live.faults_by_link).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      if (links.length > 0) out(`  by link: ${links.map(([l, kinds]) => `${l} ${Object.entries(kinds).map(([k, n]) => `${k} ${n}`).join(' ')}`).join('; ')}`);
      if (v.invalid_reason !== undefined) out(`invalid: ${v.invalid_reason}`);
      if (a.flags.record !== undefined && r.live.record_error === undefined) out(`record: ${a.flags.record} (replay with: ipiscope replay ${a.flags.record})`);
      if (trace !== undefined) {
        out(`trace: ${trace.file} (${trace.spans} spans from ${trace.parts} core processes${trace.missing.length > 0 ? `, cores ${trace.missing.join(',')} missing` : ''}); ` +
          `analyzer: ${trace.ipis} IPIs, ${trace.ignored.length} ignored, ${trace.agrees ? 'the same set as the run' : `differs from the run (only run: ${trace.only_run.join(' ') || 'none'}; only trace: ${trace.only_trace.join(' ') || 'none'})`}`);
      }
    }
    if (r.live.record_error !== undefined) {
      err(`ipiscope run: cannot write the record ${a.flags.record ?? ''} (${r.live.record_error}); the verdict above stands, the record is lost`);
      return 2;
    }
    return runExitStatus(v.verdict, f.expect);
  },
};

/** 2 for an invalid run; with `expect`, 0 when the verdict is it, else 1; without, 0 for ok, else 1. */
function runExitStatus(verdict: RunVerdict['verdict'], expect: string | undefined): number {
  if (verdict === 'invalid') return 2;
  return verdict === (expect ?? 'ok') ? 0 : 1;
}

/** A per-seed line of `run --seeds --json`: sim's swarm line, and the figures of a distributed run. */
export interface RunSeedLine extends SwarmSeedResult {
  end_reason: RunVerdict['end_reason'];
  /** Wall ms from the seed's own start: its tick 0, and when what ended it was seen. */
  start_ms: number;
  end_seen_ms: number;
  hop_ticks_mean?: number;
  record?: string;
  record_error?: string;
}

function seedLineOf(r: RunScenarioResult, tps: number, record: string | undefined): RunSeedLine {
  const v = r.verdict;
  const first = firstIgnoredOf(v.ignored);
  return {
    seed: v.seed, verdict: v.verdict, kernel: v.kernel, ipis_sent: v.ipis_sent, ipis_handled: v.ipis_handled, ticks: v.steps_max,
    emulated_seconds: Math.round((v.steps_max / tps) * 1000) / 1000, wall_ms: r.live.wall_ms, ignored: v.ignored.length, lockups: v.lockups.length,
    ...(first !== undefined ? { first_ignored: first } : {}),
    ...(v.invalid_reason !== undefined ? { invalid_reason: v.invalid_reason } : {}),
    end_reason: v.end_reason, start_ms: r.live.start_ms, end_seen_ms: r.live.end_seen_ms,
    ...(v.time_scale?.hop_ticks !== undefined ? { hop_ticks_mean: v.time_scale.hop_ticks.mean } : {}),
    ...(record !== undefined && r.live.record_error === undefined ? { record } : {}),
    ...(r.live.record_error !== undefined ? { record_error: r.live.record_error } : {}),
  };
}

/**
 * `run --seeds`: the seeds one after the other on one set of core processes; a line per seed as it
 * ends (sim's swarm line, and when the seed's machine started and what ended it), then the summary
 * (sim's, plus the processes and the warm-up). Exit status: the worst seed's (see runExitStatus).
 */
async function runSwarm(options: RunScenarioOptions, seeds: number[], json: boolean, expect: string | undefined, record: string | undefined): Promise<number> {
  const tps = distTicksPerSecond(pacedScenario(options.scenario, options.tickUs));
  const lines: RunSeedLine[] = [];
  const onSeed = (r: RunScenarioResult): void => {
    const l = seedLineOf(r, tps, record !== undefined ? seedRecordFile(record, r.verdict.seed) : undefined);
    lines.push(l);
    if (json) {
      out(JSON.stringify(l));
      return;
    }
    out(
      seedLineText(l, tps) +
        `  ended by ${l.end_reason} ${(l.end_seen_ms / 1000).toFixed(1)} s after the seed's start (tick 0 at ${(l.start_ms / 1000).toFixed(1)} s)` +
        (l.hop_ticks_mean !== undefined ? `, hops ${l.hop_ticks_mean} ticks` : '') +
        (l.record !== undefined ? `, record ${l.record}` : '') +
        (l.invalid_reason !== undefined ? `  invalid: ${l.invalid_reason}` : '') +
        (l.record_error !== undefined ? `  record lost: ${l.record_error}` : ''),
    );
  };
  const s = await runSeedsDistributed({ ...options, seeds, onSeed });
  const { jobs: _jobs, ...sum } = summarize(options.scenario.name, lines, 1, s.wall_ms, tps);
  const differs = lines.filter((l) => l.verdict !== (expect ?? l.verdict)).map((l) => l.seed);
  const summary = {
    ...sum, processes: s.processes, run_id: s.runId, setup_ms: s.setup_ms,
    ...(s.warm_up !== undefined ? { warm_up: s.warm_up } : {}),
    ...(s.not_run !== undefined ? { not_run: s.not_run } : {}),
    ...(expect !== undefined ? { expect, differs: differs.slice(0, 50) } : {}),
  };
  if (json) out(JSON.stringify(summary));
  else {
    const counts = Object.entries(sum.verdicts).map(([v, n]) => `${n} ${v}`).join(', ');
    out('');
    out(`swarm: ${sum.scenario} on ${sum.kernel}, ${sum.seeds} seed${sum.seeds === 1 ? '' : 's'} one after the other on the same ${s.processes} core processes: ${counts}; ${(s.wall_ms / 1000).toFixed(1)} s wall ` +
      `(the first seed started ${(s.setup_ms / 1000).toFixed(1)} s after the command${s.warm_up !== undefined ? `, after the warm-up on seed ${s.warm_up.seed}: ${(s.warm_up.ms / 1000).toFixed(1)} s, ${s.warm_up.ipis_handled} IPIs, thrown away` : ''})`);
    for (const l of summaryDetailLines(sum, expect, differs)) out(l);
    if (s.not_run !== undefined) out(`  not run: seeds ${s.not_run.seeds.join(', ')} (the swarm stopped: ${s.not_run.reason})`);
  }
  if (s.not_run !== undefined) return 2;
  if (lines.some((l) => l.record_error !== undefined)) {
    err(`ipiscope run: the record of seed(s) ${lines.filter((l) => l.record_error !== undefined).map((l) => l.seed).join(', ')} could not be written; the verdicts above stand, those records are lost`);
    return 2;
  }
  return lines.reduce((worst, l) => Math.max(worst, runExitStatus(l.verdict, expect)), 0);
}

/**
 * The human verdict: the verdict line, each ignored IPI (whether anybody waits for it), and what an
 * `ok` ended by the clock covers.
 */
export function verdictLines(v: RunVerdict, o: { processes: number; wallMs: number; emulatedSeconds: number; traceIds?: Map<string, string> }): string[] {
  const lines = [
    `verdict: ${v.verdict.toUpperCase()} (${v.end_reason}) — ${v.ipis_handled} of ${v.ipis_sent} IPIs handled, ${v.ignored.length} ignored, ` +
      `over ${o.emulatedSeconds.toFixed(1)} emulated s, ${o.processes} core processes, ${o.wallMs} ms`,
  ];
  for (const i of v.ignored) {
    const trace = o.traceIds?.get(i.ipi_id);
    lines.push(
      `ignored IPI ${i.ipi_id}: ${ppcMsgName(i.msg)} from CPU ${i.sender_cpu} to CPU ${i.target_cpu}, ` +
        `its message ordered at tick ${i.ordered_tick} and never consumed${v.stuck.some((x) => x.waiting_for === i.target_cpu) ? '' : ' (nobody waits for it)'}` +
        `${i.target_offline === true ? `; sent while CPU ${i.target_cpu} went offline (it waits for the CPU to come back)` : ''}` +
        `${i.interleaving !== undefined ? `; host_ipi overwritten (2019 interleaving: ${i.interleaving})` : ''}` +
        `${trace !== undefined ? `; trace ${trace}` : ''}`,
    );
  }
  const lost = v.lost_found ?? [];
  const tps = v.time_scale?.ticks_per_second ?? 1000;
  for (const l of lost.slice(0, 8)) {
    lines.push(
      `lost and found IPI ${l.ipi_id}: ${ppcMsgName(l.msg)} from CPU ${l.sender_cpu} to CPU ${l.target_cpu}, lost at ${(l.lost_tick / tps).toFixed(3)} s ` +
        `(its ${(v.marks?.[XICS_GUEST_WAKE] ?? 0) > 0 ? 'interrupt' : 'doorbell'} taken as a guest wake-up, host_ipi == 0, with the message pending), found ${((l.found_tick - l.lost_tick) / tps).toFixed(3)} s later by another host IPI`,
    );
  }
  if (lost.length > 8) lines.push(`... and ${lost.length - 8} more IPIs lost and found`);
  // Paced runs: a bus hop much longer (in ticks) than sim's makes the races rarer than in sim.
  const hop = v.time_scale?.hop_ticks;
  const simHop = v.time_scale?.sim_hop_ticks_mean;
  if (hop !== undefined && simHop !== undefined && hop.messages > 0 && hop.mean > 2 * Math.max(...simHop)) {
    lines.push(
      `bus hops cost ${hop.mean} ticks on average (median ${hop.p50}) against sim's ${simHop.join('-')}: the host is short of CPU for this pace, ` +
        'and races that need a short hop are rarer here than in sim (a slower pace, a larger --tick-us, brings the hops back down; ' +
        'so does a longer run, or --warm-up: the core processes are JIT-cold for their first minutes)',
    );
  }
  for (const x of v.stuck) {
    if (x.kind === 'hung-task' && x.forever) lines.push(`hung task on CPU ${x.cpu}: ${x.where}, for ${x.since_steps} ticks and for ever (the machine is drained)`);
  }
  if (v.end_reason === 'lost' && v.verdict !== 'invalid') {
    lines.push(
      v.verdict === 'hang'
        ? 'lost means here: the run ended as soon as a CALL_FUNCTION was lost to the 2019 race with a CPU waiting for it, and on the drained machine nothing will ever answer it; ' +
            "--no-stop-at-lost runs on until the kernel's soft lockup, or until a later host IPI finds it"
        : 'lost means here: the run ended at a CALL_FUNCTION lost to the 2019 race with a CPU waiting for it, but the drain answered it (its doorbell came late): no hang',
    );
  }
  // The wait that ended the run was answered in the drain: a detector fired on a late answer. The
  // verdict stays `hang`, as the kernel's report stands, but the line says what it is not.
  const hw = v.hang_wait;
  if (v.verdict === 'hang' && v.drained && hw !== undefined && !v.stuck.some((x) => x.cpu === hw.cpu)) {
    const late =
      hw.kind === 'hung-task'
        ? `a hung-task report, not a sleep for ever: the task that CPU ${hw.cpu}'s task woke ran during the drain (its wake-up was late)`
        : `a soft lockup, not a wait for ever: CPU ${hw.cpu} spun in csd_lock_wait for CPU ${hw.waiting_for} past the threshold and got its answer during the drain (its IPI was late)`;
    const rest = v.stuck.some((x) => x.forever)
      ? '; CPUs that wait for ever (the console names them) make it a hang all the same'
      : v.ignored.length === 0
        ? '; no IPI was lost and nobody waits for ever'
        : '';
    lines.push(`hang means here: ${late}${rest}; long bus hops, or a low --watchdog-thresh or --hung-task-timeout, make late answers cross the detectors' thresholds`);
  }
  if (v.verdict === 'ok' && (v.end_reason === 'duration' || v.end_reason === 'steps-max')) {
    lines.push(
      v.ignored.length === 0 && lost.length === 0
        ? `ok means: no IPI was ignored and no CPU hung in the ${o.emulatedSeconds.toFixed(1)} emulated s that ran (${v.ipis_handled} IPIs); a rare race may need a longer run (${v.end_reason === 'steps-max' ? '--ticks-max' : '--duration'}) or many seeds (--seeds)`
        : v.ignored.length === 0
          ? `ok means: no CPU hung in the ${o.emulatedSeconds.toFixed(1)} emulated s that ran (${v.ipis_handled} IPIs) and every IPI was handled in the end, but ${lost.length} of them only because a later host IPI found ${lost.length === 1 ? 'it' : 'them'} (above): the race happened`
          : `ok means: no CPU hung in the ${o.emulatedSeconds.toFixed(1)} emulated s that ran (${v.ipis_handled} IPIs); ${v.ignored.length} ignored IPI(s) above, nobody left waiting for them`,
    );
  }
  return lines;
}

/** A run id is one NATS subject token. */
export function checkRunId(id: string, what = '--run-id'): void {
  if (!isRunId(id) || id.length > 64) throw new UsageError(`${what} ${JSON.stringify(id)}: use 1-64 letters, digits, - or _ (it is one NATS subject token)`);
}
