// Goal: the launcher gives private nats-servers on their own loopback ports, restarts them on the
// same ports, forms full-mesh clusters, explains a missing binary, and never leaves a server
// behind when its parent process goes away (exit, signal, or SIGKILL).
// Method: real nats-server 2.9.x processes; checks through the monitoring endpoints, a real
// client and /proc; waits are latches with deadlines, never fixed sleeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { UserError } from '../../../services/stdx/errors.js';
import { NatsCluster, NatsServer, findNatsServerBinary } from '../../../services/bus/nats-launcher.js';
import { pidAlive } from '../../harness/proc.js';

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const alive = pidAlive;

test('a server starts on its own ports, serves clients, stops, and restarts on the same ports', async () => {
  const s = await new NatsServer().start();
  assert.notEqual(s.ports.client, 4222, 'never the shared server');
  assert.ok(s.ports.monitor > 0);
  const nc = await connect({ servers: s.url });
  await nc.flush();
  await nc.close();
  const stopped = await s.stop();
  assert.equal(s.running, false);
  assert.ok(!alive(s.pid));
  const again = await stopped.restart();
  try {
    assert.deepEqual(again.ports, s.ports);
    const varz = await again.monitor<{ port: number }>('/varz');
    assert.equal(varz.port, s.ports.client);
  } finally {
    const k = await again.kill();
    assert.deepEqual(k.ports, s.ports);
  }
});

test('a 3-node cluster is a full mesh, and a killed node comes back into it', async () => {
  await using cluster = await new NatsCluster({ nodes: 3 }).start();
  for (let i = 0; i < 3; i++) {
    const r = await cluster.node(i).monitor<{ num_routes: number }>('/routez');
    assert.equal(r.num_routes, 2, `node ${i} routes`);
  }
  // A message published on node 0 reaches a subscriber on node 2 (one route hop).
  const sub = await connect({ servers: cluster.url(2) });
  const pub = await connect({ servers: cluster.url(0) });
  const got = new Promise<string>((resolve) => {
    sub.subscribe('t.x', { callback: (_e, m) => resolve(m.string()) });
  });
  await sub.flush();
  await until('interest on node 0', async () =>
    ((await cluster.node(0).monitor<{ num_subscriptions: number }>('/subsz')).num_subscriptions ?? 0) > 0);
  pub.publish('t.x', 'hello');
  assert.equal(await got, 'hello');
  await pub.close();
  await sub.close();
  const port = cluster.node(1).ports.client;
  await cluster.kill(1);
  await cluster.restart(1);
  assert.equal(cluster.node(1).ports.client, port);
  const r = await cluster.node(1).monitor<{ num_routes: number }>('/routez');
  assert.equal(r.num_routes, 2);
});

test('a missing binary is a UserError that says how to install it', async () => {
  assert.throws(() => findNatsServerBinary('/nonexistent/nats-server'), (e: unknown) =>
    e instanceof UserError && /apt-get install nats-server/.test(e.message) && /--nats/.test(e.message));
  await assert.rejects(new NatsServer({ binary: '/nonexistent/nats-server' }).start(), UserError);
});

test('servers do not outlive their parent: exit, SIGTERM and SIGKILL', async () => {
  const launcher = fileURLToPath(new URL('../../../services/bus/nats-launcher.js', import.meta.url));
  for (const how of ['exit', 'SIGTERM', 'SIGKILL'] as const) {
    const script = `
      import { NatsServer } from ${JSON.stringify(launcher)};
      const s = await new NatsServer().start();
      process.stdout.write(String(s.pid) + '\\n', () => {
        ${how === 'exit' ? 'process.exit(0);' : 'setInterval(() => {}, 1000);'}
      });
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pid = await new Promise<number>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\n')) resolve(Number(buf.trim()));
      });
      child.on('exit', () => reject(new Error('child exited before starting a server')));
    });
    if (how !== 'exit') {
      assert.ok(alive(pid), 'server runs while its parent does');
      child.kill(how);
    }
    await until(`server gone after parent ${how}`, () => !alive(pid), 5000);
  }
});
