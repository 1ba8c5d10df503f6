/**
 * Private `nats-server` processes for tests, benchmarks and single-machine runs.
 *
 * A server listens on loopback only, on ports the server itself picks (`-p -1 -m -1`, cluster
 * `:-1`), which it writes to a ports file in a private temporary directory; we read that file
 * instead of guessing free ports, so two launchers never race for a port. A restarted server
 * gets its previous ports back, so clients' server lists and peers' routes stay valid.
 *
 * Lifecycle is typestate: `new NatsServer(opts).start()` → `StartedNatsServer` (`stop()`,
 * `kill()`) → `StoppedNatsServer` (`restart()`). Clusters are a full mesh of routes (messages
 * cross one route hop only), started node by node and awaited until every node sees N-1 routes.
 *
 * Children never outlive us: every live server is in a registry that is SIGKILLed on `exit` and
 * on SIGINT/SIGTERM/SIGHUP, and each server has a tiny shell watchdog that SIGKILLs it when our
 * process disappears without running handlers (SIGKILL, OOM).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, readdirSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { assert } from '../stdx/assert.js';
import { UserError } from '../stdx/errors.js';
import { makeTempDir, removeAllTempDirs, removeTempDir } from '../stdx/temp-dir.js';

/** Options of one server. All durations in milliseconds. */
export interface NatsServerOptions {
  /** Path of the binary; default: `$IPISCOPE_NATS_SERVER`, then `nats-server` on PATH, /usr/sbin. */
  binary?: string;
  /** Cluster name; with it the server also listens for routes. */
  clusterName?: string;
  /** Route URLs of the peers (`nats://127.0.0.1:<cluster port>`). */
  routes?: string[];
  /** Time allowed from spawn until the server answers `/healthz`. Default 10000. */
  readyTimeoutMs?: number;
  /** Extra command-line arguments, appended last. */
  args?: string[];
  /** Name used in logs and errors. Default `nats`. */
  name?: string;
}

/** Ports a running server listens on; `cluster` is 0 when it is not clustered. */
export interface NatsServerPorts {
  client: number;
  monitor: number;
  cluster: number;
}

const SEARCH_DIRS = ['/usr/sbin', '/usr/local/bin', '/usr/bin'];
const POLL_MS = 10;

/** Finds the nats-server binary or explains how to get one. */
export function findNatsServerBinary(explicit?: string): string {
  const candidates: string[] = [];
  if (explicit !== undefined) candidates.push(explicit);
  else {
    const env = process.env.IPISCOPE_NATS_SERVER;
    if (env !== undefined && env !== '') candidates.push(env);
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      if (dir !== '') candidates.push(join(dir, 'nats-server'));
    }
    for (const dir of SEARCH_DIRS) candidates.push(join(dir, 'nats-server'));
  }
  for (const path of candidates) {
    try {
      accessSync(path, fsConstants.X_OK);
      return path;
    } catch {
      // not here; try the next place
    }
  }
  const where = explicit !== undefined ? explicit : `PATH, ${SEARCH_DIRS.join(', ')}`;
  throw new UserError(
    `nats-server not found (looked in ${where}). Install it with ` +
      '`apt-get install nats-server` (Debian/Ubuntu) or from ' +
      'https://github.com/nats-io/nats-server/releases, set IPISCOPE_NATS_SERVER to its path, ' +
      'or use a running server with `--nats nats://host:4222`.',
  );
}

// Registry of live children, killed when this process goes away.
const live = new Set<ChildProcess>();
let hooksInstalled = false;

function killAllSync(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllSync();
      removeAllTempDirs();
      // Keep the default behaviour (terminate) unless someone else handles the signal.
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

/** A server that has not been started yet. */
export class NatsServer {
  constructor(private readonly opts: NatsServerOptions = {}) {}

  async start(): Promise<StartedNatsServer> {
    return launch(this.opts, undefined);
  }
}

/** A running server. */
export class StartedNatsServer {
  private exited: Promise<void>;
  private state: 'running' | 'stopping' | 'stopped' = 'running';

  /** @internal use `NatsServer.start()`. */
  constructor(
    private readonly opts: NatsServerOptions,
    private readonly child: ChildProcess,
    private readonly watchdog: ChildProcess | undefined,
    readonly ports: NatsServerPorts,
    private readonly dir: string,
  ) {
    this.exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    void this.exited.then(() => {
      live.delete(child);
      this.state = 'stopped';
      removeTempDir(this.dir);
    });
  }

  /** Client URL, e.g. `nats://127.0.0.1:41234`. */
  get url(): string {
    return `nats://127.0.0.1:${this.ports.client}`;
  }

  /** Route URL for peers, or undefined when not clustered. */
  get routeUrl(): string | undefined {
    return this.ports.cluster > 0 ? `nats://127.0.0.1:${this.ports.cluster}` : undefined;
  }

  get monitorUrl(): string {
    return `http://127.0.0.1:${this.ports.monitor}`;
  }

  get pid(): number {
    assert(this.child.pid !== undefined, 'a started server has a pid');
    return this.child.pid;
  }

  get running(): boolean {
    return this.state === 'running';
  }

  /** Graceful stop (SIGTERM), escalating to SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<StoppedNatsServer> {
    return this.end('SIGTERM', timeoutMs);
  }

  /** Abrupt death (SIGKILL): what a crashed node looks like to clients and peers. */
  async kill(): Promise<StoppedNatsServer> {
    return this.end('SIGKILL', 5000);
  }

  /** Reads a monitoring endpoint (`/varz`, `/routez`, `/connz`, ...) as JSON. */
  async monitor<T = Record<string, unknown>>(path: string): Promise<T> {
    const res = await fetch(`${this.monitorUrl}${path}`);
    if (!res.ok) throw new Error(`${this.opts.name ?? 'nats'}: GET ${path}: ${res.status}`);
    return (await res.json()) as T;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.state === 'running') await this.stop();
  }

  private async end(sig: NodeJS.Signals, timeoutMs: number): Promise<StoppedNatsServer> {
    if (this.state === 'running') {
      this.state = 'stopping';
      this.child.kill(sig);
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(timer);
    } else {
      await this.exited;
    }
    this.watchdog?.kill('SIGKILL');
    return new StoppedNatsServer(this.opts, this.ports);
  }
}

/** A server that ran and exited; it can come back on the same ports. */
export class StoppedNatsServer {
  /** @internal */
  constructor(
    private readonly opts: NatsServerOptions,
    readonly ports: NatsServerPorts,
  ) {}

  async restart(): Promise<StartedNatsServer> {
    return launch(this.opts, this.ports);
  }
}

async function launch(
  opts: NatsServerOptions,
  ports: NatsServerPorts | undefined,
): Promise<StartedNatsServer> {
  const binary = findNatsServerBinary(opts.binary);
  installExitHooks();
  const name = opts.name ?? 'nats';
  const dir = makeTempDir('ipiscope-nats-');
  const args = [
    '-a', '127.0.0.1',
    '-p', String(ports?.client ?? -1),
    '-m', String(ports?.monitor ?? -1),
    '--ports_file_dir', dir,
  ];
  if (opts.clusterName !== undefined) {
    args.push('--cluster_name', opts.clusterName);
    args.push('--cluster', `nats://127.0.0.1:${ports?.cluster ?? -1}`);
    if (opts.routes !== undefined && opts.routes.length > 0) {
      args.push('--routes', opts.routes.join(','));
    }
  }
  args.push(...(opts.args ?? []));

  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    // Keep only the tail: enough to explain a failed start, bounded for long runs.
    stderr = (stderr + chunk).slice(-8192);
  });
  child.on('exit', () => live.delete(child));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const watchdog = child.pid !== undefined ? spawnWatchdog(child.pid, dir) : undefined;

  const deadline = Date.now() + (opts.readyTimeoutMs ?? 10_000);
  const fail = (why: string): Error => {
    child.kill('SIGKILL');
    watchdog?.kill('SIGKILL');
    removeTempDir(dir);
    return new UserError(
      `${name}: nats-server (${binary} ${args.join(' ')}) ${why}` +
        (stderr.trim() !== '' ? `; its log ends with:\n${stderr.trim().split('\n').slice(-5).join('\n')}` : ''),
    );
  };

  let found: NatsServerPorts | undefined;
  for (;;) {
    const early = await Promise.race([spawnError, sleep(POLL_MS).then(() => undefined)]);
    if (early !== undefined) throw fail(`could not be spawned: ${early.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw fail(`exited during start-up (code ${child.exitCode}, signal ${child.signalCode})`);
    }
    if (found === undefined) found = readPortsFile(dir, opts.clusterName !== undefined);
    if (found !== undefined && (await healthy(found.monitor))) break;
    if (Date.now() > deadline) throw fail(`was not ready within ${opts.readyTimeoutMs ?? 10_000} ms`);
  }
  return new StartedNatsServer(opts, child, watchdog, found, dir);
}

function readPortsFile(dir: string, clustered: boolean): NatsServerPorts | undefined {
  const file = readdirSync(dir).find((f) => f.endsWith('.ports'));
  if (file === undefined) return undefined;
  let parsed: { nats?: string[]; monitoring?: string[]; cluster?: string[] };
  try {
    parsed = JSON.parse(readFileSync(join(dir, file), 'utf8')) as typeof parsed;
  } catch {
    return undefined; // written but not complete yet
  }
  const port = (urls: string[] | undefined): number => {
    const u = urls?.[0];
    return u === undefined ? 0 : Number(new URL(u).port);
  };
  const ports = {
    client: port(parsed.nats),
    monitor: port(parsed.monitoring),
    cluster: port(parsed.cluster),
  };
  if (ports.client === 0 || ports.monitor === 0) return undefined;
  if (clustered && ports.cluster === 0) return undefined;
  return ports;
}

async function healthy(monitorPort: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${monitorPort}/healthz`, {
      signal: AbortSignal.timeout(1000),
    });
    return res.ok;
  } catch {
    return false;
  }
}

// Polls once a second; exits as soon as either the server or we are gone.
function spawnWatchdog(serverPid: number, dir: string): ChildProcess | undefined {
  // The server's directory (its ports file) goes with it, also when we were SIGKILLed.
  const quoted = `'${dir.replaceAll("'", "'\\''")}'`;
  const script =
    `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${serverPid} 2>/dev/null; ` +
    `do sleep 1; done; kill -9 ${serverPid} 2>/dev/null; rm -rf ${quoted}`;
  try {
    const w = spawn('/bin/sh', ['-c', script], { stdio: 'ignore', detached: true });
    w.on('error', () => undefined);
    w.unref();
    return w;
  } catch {
    return undefined;
  }
}

/** Options of a cluster: the per-node options plus its size. */
export interface NatsClusterOptions extends Omit<NatsServerOptions, 'routes' | 'clusterName'> {
  /** Number of nodes, ≥ 1. Default 3. */
  nodes?: number;
  clusterName?: string;
  /** Time allowed until every node sees all of its routes. Default 10000. */
  routesTimeoutMs?: number;
}

/** A full-mesh cluster that has not been started yet. */
export class NatsCluster {
  constructor(private readonly opts: NatsClusterOptions = {}) {}

  async start(): Promise<StartedNatsCluster> {
    const n = this.opts.nodes ?? 3;
    assert(Number.isInteger(n) && n >= 1, 'a cluster has at least one node');
    const clusterName = this.opts.clusterName ?? 'ipiscope';
    const nodes: StartedNatsServer[] = [];
    try {
      // Each node routes to every earlier one; routes are bidirectional, so this is a full mesh.
      for (let i = 0; i < n; i++) {
        const routes = nodes.map((s) => s.routeUrl as string);
        const node = await new NatsServer({
          ...this.opts,
          name: `${this.opts.name ?? 'nats'}-${i}`,
          clusterName,
          routes,
        }).start();
        nodes.push(node);
      }
      const cluster = new StartedNatsCluster(this.opts, clusterName, nodes);
      await cluster.waitForRoutes(this.opts.routesTimeoutMs ?? 10_000);
      return cluster;
    } catch (e) {
      await Promise.all(nodes.map((s) => s.kill()));
      throw e;
    }
  }
}

/** A running cluster; nodes can be killed and restarted one by one. */
export class StartedNatsCluster {
  private readonly stopped = new Map<number, StoppedNatsServer>();

  /** @internal */
  constructor(
    private readonly opts: NatsClusterOptions,
    readonly clusterName: string,
    private readonly nodes: (StartedNatsServer | undefined)[],
  ) {}

  get size(): number {
    return this.nodes.length;
  }

  /** Client URL of node i (also while it is down: it comes back on the same port). */
  url(i: number): string {
    const node = this.nodes[i];
    if (node !== undefined) return node.url;
    const stopped = this.stopped.get(i);
    assert(stopped !== undefined, `node ${i} exists`);
    return `nats://127.0.0.1:${stopped.ports.client}`;
  }

  /** All client URLs, starting with node `first` (a client's preferred node). */
  urls(first = 0): string[] {
    const out: string[] = [];
    for (let k = 0; k < this.size; k++) out.push(this.url((first + k) % this.size));
    return out;
  }

  node(i: number): StartedNatsServer {
    const node = this.nodes[i];
    assert(node !== undefined, `node ${i} is running`);
    return node;
  }

  async kill(i: number): Promise<void> {
    this.stopped.set(i, await this.node(i).kill());
    this.nodes[i] = undefined;
  }

  async stopNode(i: number): Promise<void> {
    this.stopped.set(i, await this.node(i).stop());
    this.nodes[i] = undefined;
  }

  /** Brings a stopped node back with routes to every other node, and waits for the mesh. */
  async restart(i: number, routesTimeoutMs = 10_000): Promise<void> {
    const stopped = this.stopped.get(i);
    assert(stopped !== undefined, `node ${i} was stopped`);
    const routes: string[] = [];
    for (let k = 0; k < this.size; k++) {
      if (k === i) continue;
      const port = this.nodes[k]?.ports.cluster ?? this.stopped.get(k)?.ports.cluster;
      if (port !== undefined) routes.push(`nats://127.0.0.1:${port}`);
    }
    // Same ports as before, routes to every other node (its peers may have moved on).
    const again = await new StoppedNatsServer(
      { ...this.opts, name: `${this.opts.name ?? 'nats'}-${i}`, clusterName: this.clusterName, routes },
      stopped.ports,
    ).restart();
    this.nodes[i] = again;
    this.stopped.delete(i);
    await this.waitForRoutes(routesTimeoutMs);
  }

  /** Waits until every running node has a route to every other running node. */
  async waitForRoutes(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const running = this.nodes.filter((s): s is StartedNatsServer => s !== undefined);
    const want = running.length - 1;
    for (;;) {
      const counts = await Promise.all(
        running.map(async (s) => {
          try {
            return (await s.monitor<{ num_routes: number }>('/routez')).num_routes;
          } catch {
            return -1;
          }
        }),
      );
      if (counts.every((c) => c >= want)) return;
      if (Date.now() > deadline) {
        throw new UserError(
          `nats cluster ${this.clusterName}: routes not up within ${timeoutMs} ms ` +
            `(routes per node: ${counts.join(', ')}; want ${want})`,
        );
      }
      await sleep(POLL_MS * 5);
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((s) => s?.stop()));
    this.nodes.fill(undefined);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
