import { connect, type NatsConnection } from '@nats-io/transport-node';
import { parseArgs, formatHelp } from './args.js';
import type { Command } from './command.js';
import { err, out } from './command.js';
import { UsageError, UserError } from '../stdx/index.js';
import { checkFaultPlanCores, loadFaultPlan, type FaultPlan } from '../bus/fault-plan.js';
import { encodeControlMsg } from '../bus/codec.js';
import { faultsSubject } from '../bus/nats-transport.js';
import { checkRunId } from './cmd-run.js';
import { natsConnectTarget, redactNatsUrls } from '../bus/nats-url.js';

const spec = {
  summary:
    'Changes the fault plan of a running `ipiscope run` (the run prints its id and NATS URL when it starts). ' +
    'The plan replaces the one in force: its bus rules apply from when each core receives it, its pause/kill/restart ' +
    'faults at their `at_ms` counted from the start of the run (at once when that has passed, never twice). ' +
    'The plan is checked before anything is sent; the run answers with what it took.',
  flags: {
    nats: { type: 'string', env: 'IPISCOPE_NATS', help: 'NATS URL(s) of the run, comma-separated' },
    timeout: { type: 'duration', default: '5s', help: 'how long to wait for the run to answer' },
    fromNow: { type: 'boolean', help: 'count the plan\'s at_ms from now instead of from the start of the run (the run is asked where it is; 100 ms are added for the plan to reach every core)' },
    json: { type: 'boolean', help: 'print the run\'s answer as one JSON line' },
  },
  positionals: [
    { name: 'RUN_ID', help: 'the run\'s id, as `ipiscope run` printed it (or its --run-id)', required: true },
    { name: 'PLAN', help: 'fault plan file (YAML or JSON), as for `ipiscope run --faults`', required: true },
  ],
} as const;

/** Time for a plan sent "from now" to reach every core before its first fault is due. */
const FROM_NOW_MARGIN_MS = 100;

/** The plan with every `at_ms` later by `ms` (rules without a time apply on receipt anyway). */
export function shiftPlan(plan: FaultPlan, ms: number): FaultPlan {
  return { ...plan, faults: plan.faults.map((r) => ('at_ms' in r ? { ...r, at_ms: r.at_ms + ms } : r)) };
}

/** One request on the run's faults subject, answered in JSON by its controller. */
async function ask(nc: NatsConnection, runId: string, msg: Uint8Array, timeoutMs: number, servers: string[]): Promise<Record<string, unknown>> {
  let data: Uint8Array;
  try {
    data = (await nc.request(faultsSubject(runId), msg, { timeout: timeoutMs })).data;
  } catch (e) {
    const m = (e as Error).message;
    throw new UserError(
      /no responders|503/i.test(m)
        ? `no run ${runId} listens on NATS at ${redactNatsUrls(servers, ', ')}: check the id and the URL that \`ipiscope run\` printed`
        : `run ${runId} did not answer within ${timeoutMs} ms (${m})`,
    );
  }
  try {
    return JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown>;
  } catch {
    throw new UserError(`run ${runId} answered something that is not JSON: is it an ipiscope run?`);
  }
}

export const faultsCommand: Command = {
  name: 'faults',
  summary: 'change the fault plan of a running distributed run, live',
  example: 'ipiscope faults chaos-1 partition.yaml --nats nats://127.0.0.1:4222',
  spec,
  async run(argv) {
    const a = parseArgs(argv, spec, { env: process.env });
    if (a.help) {
      out(formatHelp('ipiscope faults', spec));
      return 0;
    }
    const runId = String(a.positionals.RUN_ID);
    checkRunId(runId, 'RUN_ID');
    let plan = loadFaultPlan(String(a.positionals.PLAN));
    if (a.flags.nats === undefined) throw new UsageError('--nats: give the NATS URL of the run (`ipiscope run` prints it when it starts)');
    const servers = a.flags.nats.split(',');
    let nc: NatsConnection;
    try {
      nc = await connect({ ...natsConnectTarget(servers), name: `ipiscope-faults-${runId}` });
    } catch (e) {
      throw new UserError(`cannot connect to NATS at ${redactNatsUrls(servers, ', ')}: ${(e as Error).message}`);
    }
    try {
      // Where the run is, and how many cores it has: a plan naming a core it lacks is refused
      // before anything is sent.
      const where = await ask(nc, runId, encodeControlMsg({ kind: 'statusRequest', fields: { runId, generation: 0, wave: 0 } }), a.flags.timeout, servers);
      if (typeof where.cores === 'number') checkFaultPlanCores(String(a.positionals.PLAN), plan, where.cores);
      if (a.flags.fromNow === true) {
        if (!(Number(where.generation) > 0)) throw new UserError(`run ${runId} runs no machine right now (between machines, or not started): nothing to count from`);
        plan = shiftPlan(plan, Number(where.at_ms) + FROM_NOW_MARGIN_MS);
      }
      // A version newer than any before: the cores and the controller ignore an older one.
      const msg = encodeControlMsg({ kind: 'faultPlanUpdate', fields: { runId, planVersion: Date.now(), faultPlanJson: JSON.stringify(plan) } });
      const answer = await ask(nc, runId, msg, a.flags.timeout, servers);
      if (a.flags.json) out(JSON.stringify(answer));
      else if (answer.ok === true && answer.late === true) {
        out(`run ${runId}: fault plan version ${String(answer.version)} came too late: ${String(answer.error)}`);
      } else if (answer.ok === true) {
        out(
          Number(answer.generation) > 0
            ? `run ${runId}: fault plan version ${String(answer.version)} taken ${String(answer.at_ms)} ms into the run (${String(answer.rules)} rules, ${String(answer.process_faults_scheduled)} process faults scheduled)`
            : `run ${runId}: fault plan version ${String(answer.version)} taken between machines: its bus rules apply until the next one starts`,
        );
      }
      if (answer.ok === true && Number(answer.past_due ?? 0) > 0) {
        err(`warning: ${String(answer.past_due)} of the plan's partitions were over before the run took the plan (${String(answer.at_ms)} ms into it; their at_ms counts from the run's start): they do nothing; --from-now counts from when the run takes the plan`);
      }
      if (answer.ok === true && Number(answer.process_faults_not_applicable ?? 0) > 0) {
        err(`warning: run ${runId} adopted its core processes, so the plan's ${String(answer.process_faults_not_applicable)} pause/kill/restart faults cannot be carried out; its bus rules apply`);
      }
      if (answer.ok !== true) throw new UserError(`run ${runId} refused the plan: ${String(answer.error)}`);
      // Taken, but by a machine that was ending: the plan injected nothing into the run.
      if (answer.late === true) {
        err(`warning: run ${runId} was ending when the plan came: no fault of it reaches the run's workload (its bus rules apply to the drain and to a next machine, if any)`);
        return 1;
      }
      return 0;
    } finally {
      await nc.close();
    }
  },
};
