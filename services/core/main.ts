/**
 * Entry point of a core process:
 *
 *     node dist/services/core/main.js --run RUN --core N --nats URL[,URL...] [--seed S] [--preload-tracing] [--watch-parent yes]
 *
 * `--nats` may be left out for `IPISCOPE_NATS` (how a controller hands over URLs with credentials,
 * `nats://user:password@host:port`, which a command line would show to every local user).
 *
 * It registers with the controller on the run's control subject and waits for StartRun. It ends
 * on StopRun{exit} and on SIGTERM/SIGINT. A core the controller spawned (`--watch-parent yes`)
 * also ends when its parent goes away (stdin closes, or the parent pid changes), so a crashed
 * controller never leaves it behind; a core started by hand or by a container runtime for a run
 * that adopts it does not watch its stdin or parent (it may be started detached, with no stdin).
 */
// Only types here: the parent is watched before the core's modules load (a second or more on a
// busy machine), so a controller killed meanwhile leaves no core behind either.
import type { StartedCoreProcess } from './core-process.js';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function fail(msg: string): never {
  process.stderr.write(`ipiscope core: ${msg}\n`);
  process.exit(2);
}

const runId = flag('run') ?? fail('--run RUN is required');
const core = Number(flag('core') ?? fail('--core N is required'));
if (!Number.isInteger(core) || core < 0) fail(`--core must be a core number, got ${flag('core')}`);
const servers = (flag('nats') ?? (process.env.IPISCOPE_NATS || undefined) ?? fail('--nats URL (or IPISCOPE_NATS) is required')).split(',');
const seed = Number(flag('seed') ?? '0');
const parentPid = process.ppid;

let started: StartedCoreProcess | undefined;
let ending = false;
/** Ends the process: with a bounded goodbye on the bus once it runs, at once when `now` (nobody is
 * left to say goodbye to) or before it has started. */
const end = (code: number, now = false): void => {
  if (ending) return;
  ending = true;
  if (now || started === undefined) process.exit(code);
  // A bounded goodbye: whatever happens to the bus, the process is gone within a second.
  setTimeout(() => process.exit(code), 1000).unref();
  void started.shutdown(code).then(() => process.exit(code));
};
for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => end(0));
// `--watch-stdin no` (older compose files) is the default now; `--watch-stdin yes` is an alias.
const watchParent = flag('watch-parent') ?? flag('watch-stdin') ?? 'no';
if (watchParent !== 'yes' && watchParent !== 'no') fail(`--watch-parent takes yes or no, got ${watchParent}`);
if (watchParent === 'yes') {
  // Watched from the start, before the bus is even reached. The controller closes our stdin when
  // it is done with us (every normal end): quietly, with the goodbye. A parent that went away
  // without doing so crashed or was killed: that is said, and the process leaves at once (on a
  // loaded machine a goodbye to nobody could keep it for seconds).
  const orphaned = (): boolean => {
    if (process.ppid === parentPid) return false;
    process.stderr.write(`ipiscope core ${core}: parent ${parentPid} went away: the controller that started this process is gone; exiting\n`);
    return true;
  };
  const onStdinEnd = (): void => {
    if (ending) return;
    end(3, orphaned());
  };
  process.stdin.on('end', onStdinEnd);
  process.stdin.on('close', onStdinEnd);
  process.stdin.resume();
  setInterval(() => {
    if (!ending && orphaned()) end(3, true);
  }, 500).unref();
}

const { CoreProcess } = await import('./core-process.js');
// Traced runs: the OpenTelemetry modules are loaded before the core registers.
if (process.argv.includes('--preload-tracing')) await (await import('./core-tracing.js')).loadCoreTracing();

started = await new CoreProcess({
  runId,
  core,
  servers,
  seed,
  log: (l) => process.stderr.write(`${l}\n`),
}).start();
const code = await started.exited;
process.exit(code);
