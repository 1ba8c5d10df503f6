/**
 * Raw NATS request/reply round trip between two Node processes: the floor under any
 * cross-core exchange (a `sync` ack, an rmw, a repair) on this machine. A private nats-server is
 * started; a child process (this file with `--responder`) answers on a subject; the parent times
 * sequential requests after a warm-up.
 *
 * Run directly for JSON: `node dist/services/bus/bench-nats.js [--requests N] [--pubsub]`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { NatsServer } from './nats-launcher.js';

const SUBJECT = 'ipiscope.bench.rtt';
/** Publish/subscribe ping-pong: the parent publishes on PING, the child echoes on PONG. */
const PING = 'ipiscope.bench.ping';
const PONG = 'ipiscope.bench.pong';
const WARMUP = 500;

export interface BenchNatsOptions {
  /** Timed requests after the warm-up. Default 5000. */
  requests?: number;
  /** Payload size in bytes. Default 64 (about one envelope). */
  payloadBytes?: number;
  /**
   * `request` (default): `request()` and `respond()`, NATS's own round trip (a reply inbox, a
   * timer and a promise per request). `pubsub`: a plain publish answered by a plain publish, each
   * side a callback subscription, as the core processes' hops are: the leaner of the two.
   */
  mode?: 'request' | 'pubsub';
}

export async function benchNatsRtt(
  opts: BenchNatsOptions = {},
): Promise<{ rtt_us_p50: number; rtt_us_mean: number }> {
  const requests = opts.requests ?? 5000;
  await using server = await new NatsServer({ name: 'bench-nats' }).start();
  const pubsub = opts.mode === 'pubsub';
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), pubsub ? '--echo' : '--responder', server.url], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`responder exited (${code}) before it was ready`)));
    });
    const nc = await connect({ servers: server.url });
    const payload = new Uint8Array(opts.payloadBytes ?? 64);
    let roundTrip: () => Promise<unknown> = () => nc.request(SUBJECT, payload, { timeout: 2000 });
    // Pub/sub: no timer per round trip (that is part of what it leaves out); one watchdog fails
    // a round trip that has waited 2 s.
    let watchdog: NodeJS.Timeout | undefined;
    if (pubsub) {
      let answered: (() => void) | undefined;
      let fail: ((e: Error) => void) | undefined;
      let sentAt = 0;
      nc.subscribe(PONG, { callback: () => answered?.() });
      await nc.flush();
      watchdog = setInterval(() => {
        if (fail !== undefined && Date.now() - sentAt > 2000) fail(new Error('no echo within 2000 ms'));
      }, 500);
      roundTrip = () =>
        new Promise<void>((resolve, reject) => {
          answered = () => {
            answered = fail = undefined;
            resolve();
          };
          fail = reject;
          sentAt = Date.now();
          nc.publish(PING, payload);
        });
    }
    const us: number[] = [];
    try {
      for (let i = 0; i < WARMUP; i++) await roundTrip();
      for (let i = 0; i < requests; i++) {
        const t0 = process.hrtime.bigint();
        await roundTrip();
        us.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
    } finally {
      if (watchdog !== undefined) clearInterval(watchdog);
    }
    await nc.close();
    us.sort((a, b) => a - b);
    const p50 = us[Math.floor(us.length / 2)] ?? 0;
    const mean = us.reduce((s, x) => s + x, 0) / Math.max(us.length, 1);
    return { rtt_us_p50: Math.round(p50 * 10) / 10, rtt_us_mean: Math.round(mean * 10) / 10 };
  } finally {
    child.kill('SIGTERM');
  }
}

async function responder(url: string, echo: boolean): Promise<void> {
  const nc = await connect({ servers: url });
  if (echo) nc.subscribe(PING, { callback: (_e, m) => nc.publish(PONG, m.data) });
  else {
    nc.subscribe(SUBJECT, {
      callback: (_e, m) => {
        m.respond(m.data);
      },
    });
  }
  await nc.flush();
  process.stdout.write('ready\n');
  process.on('SIGTERM', () => {
    void nc.close().then(() => process.exit(0));
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--responder');
  const e = process.argv.indexOf('--echo');
  if (i >= 0 || e >= 0) {
    await responder(process.argv[Math.max(i, e) + 1] ?? '', e >= 0);
  } else {
    const r = process.argv.indexOf('--requests');
    const result = await benchNatsRtt({ ...(r >= 0 ? { requests: Number(process.argv[r + 1]) } : {}), ...(process.argv.includes('--pubsub') ? { mode: 'pubsub' as const } : {}) });
    process.stdout.write(`${JSON.stringify({ bench: 'nats_rtt', ...result })}\n`);
  }
}
