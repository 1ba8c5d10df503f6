/**
 * NATS for tests. `startTestNats()` gives a private server: a testcontainers NATS container when
 * a Docker engine answers, otherwise the local `nats-server` binary (the only option on CI here).
 * `IPISCOPE_TEST_NATS=local|docker` forces one. When the engine answers but the container cannot
 * start (no registry to pull the image from, say), the local binary is used and the reason said,
 * unless docker was forced. Clusters are always local processes, because failure tests kill and
 * restart nodes. Every helper says on stderr which NATS it used.
 *
 * Never the shared server on 4222: every server here listens on ports of its own.
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import {
  NatsCluster,
  NatsServer,
  type StartedNatsCluster,
  type StartedNatsServer,
} from '../../services/bus/nats-launcher.js';

/** A private NATS for one test (or suite). */
export interface TestNats extends AsyncDisposable {
  kind: 'docker' | 'local';
  servers: string[];
  /** The local process, when `kind` is `local` (for failure tests). */
  local?: StartedNatsServer;
  stop(): Promise<void>;
}

const DOCKER_IMAGE = 'nats:2.10-alpine';

function say(line: string): void {
  process.stderr.write(`nats harness: ${line}\n`);
}

/** Whether a Docker engine answers `/_ping` quickly, and why not when it does not. */
export async function dockerEngine(timeoutMs = 300): Promise<{ ok: boolean; reason: string }> {
  const host = process.env.DOCKER_HOST;
  let target: { socketPath: string } | { host: string; port: number };
  if (host !== undefined && host !== '') {
    if (host.startsWith('unix://')) target = { socketPath: host.slice('unix://'.length) };
    else if (host.startsWith('tcp://')) {
      const u = new URL(host.replace(/^tcp:/, 'http:'));
      target = { host: u.hostname, port: Number(u.port || 2375) };
    } else return { ok: false, reason: `DOCKER_HOST=${host} is not unix:// or tcp://` };
  } else if (existsSync('/var/run/docker.sock')) {
    target = { socketPath: '/var/run/docker.sock' };
  } else {
    return { ok: false, reason: 'no DOCKER_HOST and no /var/run/docker.sock' };
  }
  return new Promise((resolve) => {
    const req = request({ ...target, path: '/_ping', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(
        res.statusCode === 200
          ? { ok: true, reason: 'docker engine answered /_ping' }
          : { ok: false, reason: `docker /_ping answered ${res.statusCode}` },
      );
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({ ok: false, reason: `docker /_ping timed out after ${timeoutMs} ms` });
    });
    req.on('error', (e) => resolve({ ok: false, reason: `docker engine unreachable (${e.message})` }));
    req.end();
  });
}

/** A private single NATS server: Docker when available (or forced), else the local binary. */
export async function startTestNats(): Promise<TestNats> {
  const forced = process.env.IPISCOPE_TEST_NATS;
  if (forced !== 'local') {
    const docker = await dockerEngine();
    if (docker.ok) {
      try {
        return await startDockerNats();
      } catch (e) {
        if (forced === 'docker') throw e;
        return startLocalNats(`a Docker engine answered, but the NATS container did not start: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    if (forced === 'docker') throw new Error(`IPISCOPE_TEST_NATS=docker but ${docker.reason}`);
    return startLocalNats(docker.reason);
  }
  return startLocalNats('IPISCOPE_TEST_NATS=local');
}

async function startLocalNats(why: string): Promise<TestNats> {
  const server = await new NatsServer({ name: 'test-nats' }).start();
  say(`local nats-server pid ${server.pid} at ${server.url} (${why})`);
  const stop = async (): Promise<void> => {
    if (server.running) await server.stop();
  };
  return { kind: 'local', servers: [server.url], local: server, stop, [Symbol.asyncDispose]: stop };
}

async function startDockerNats(): Promise<TestNats> {
  // Loaded only here: importing testcontainers has side effects we do not want without Docker.
  const { NatsContainer } = await import('@testcontainers/nats');
  const container = await new NatsContainer(DOCKER_IMAGE).start();
  // The module's server wants a user and password (test/test by default); ipiscope takes them in
  // the URL, as a user with a secured NATS would give them.
  const opts = container.getConnectionOptions();
  const cred = opts.user !== undefined ? `${encodeURIComponent(opts.user)}:${encodeURIComponent(opts.pass ?? '')}@` : '';
  const hosts = Array.isArray(opts.servers) ? opts.servers : [String(opts.servers)];
  const servers = hosts.map((h) => `nats://${cred}${h.replace(/^nats:\/\//, '')}`);
  say(`testcontainers ${DOCKER_IMAGE} at ${hosts.join(', ')}${cred !== '' ? ' (user and password in the URL)' : ''}`);
  const stop = async (): Promise<void> => {
    await container.stop();
  };
  return { kind: 'docker', servers, stop, [Symbol.asyncDispose]: stop };
}

/** A local full-mesh cluster of `nodes` servers (nodes can be killed and restarted). */
export async function startTestNatsCluster(nodes = 3): Promise<StartedNatsCluster> {
  const cluster = await new NatsCluster({ nodes, name: 'test-nats' }).start();
  say(`local ${nodes}-node cluster at ${cluster.urls().join(', ')}`);
  return cluster;
}
