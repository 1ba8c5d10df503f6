// An OTLP/HTTP trace receiver: POST /v1/traces with protobuf or JSON bodies, optionally gzip.
// Requests are decoded whole or rejected whole (see otlp-decode.ts); accepted spans go to
// `onSpans` in arrival order, whatever their causal order (children may come before parents,
// in the same request or across requests). Bodies are bounded: an oversized body is answered
// 413 as soon as the bound is crossed, its bytes are discarded, not kept, and a sender that
// keeps pushing past a further discard bound is disconnected.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { assert } from '../stdx/index.js';
import {
  decodeOtlpJson,
  decodeOtlpProtobuf,
  OTLP_CONTENT_TYPE,
  OtlpDecodeError,
  otlpEncodingOf,
  type OtlpEncoding,
  type SpanRecord,
} from './otlp-decode.js';
import { encodeOtlpResponse, encodeOtlpStatus } from './otlp-encode.js';

const gunzipAsync = promisify(gunzip);

export const OTLP_TRACES_PATH = '/v1/traces';

/** google.rpc.Code values used in error bodies. */
const RPC_CODE = { invalidArgument: 3, resourceExhausted: 8, internal: 13 } as const;

export interface OtlpReceiverOptions {
  /** TCP port; 0 picks a free one (read it back from `port`). */
  port: number;
  /** Interface to listen on. Default `127.0.0.1`; use `0.0.0.0` only inside a container. */
  host?: string;
  /** Largest request body accepted, in bytes, both as sent and after gunzip. */
  maxBodyBytes: number;
  /**
   * Receives the spans of each accepted request, in arrival order. Awaited before the 200, so a
   * slow consumer slows senders instead of growing a queue. A throw answers 500.
   */
  onSpans: (spans: SpanRecord[]) => void | Promise<void>;
  /** Concurrent TCP connections; more are refused by the kernel backlog. Default 64. */
  connectionCountMax?: number;
}

export interface OtlpReceiverStats {
  /** Every HTTP request seen, accepted or not. */
  requestCount: number;
  requestCountAccepted: number;
  /** Spans handed to `onSpans`. */
  spanCount: number;
  /** Requests answered with a non-2xx status. */
  rejectCount: number;
  /** Rejects by HTTP status (400, 404, 405, 413, 415, 500). */
  rejectCountByStatus: Record<number, number>;
  /** The last reject's status and reason, for diagnostics. */
  rejectLast?: { status: number; reason: string };
}

export interface StartedOtlpReceiver {
  /** Full endpoint URL, e.g. `http://127.0.0.1:4318/v1/traces` (what exporters take). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** A snapshot of the counters. */
  stats(): OtlpReceiverStats;
  /** Stops listening and closes open connections. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts listening; resolves once the port is bound. */
export async function startOtlpReceiver(opts: OtlpReceiverOptions): Promise<StartedOtlpReceiver> {
  const host = opts.host ?? '127.0.0.1';
  assert(Number.isInteger(opts.port) && opts.port >= 0 && opts.port < 65536, 'port in 0..65535');
  assert(Number.isInteger(opts.maxBodyBytes) && opts.maxBodyBytes > 0, 'maxBodyBytes > 0');
  const bodyBytesMax = opts.maxBodyBytes;
  // Bytes of an already-rejected body we read and throw away so the client can see our answer
  // (closing on unread data would reset the connection under it), before we hang up instead.
  const discardBytesMax = Math.max(bodyBytesMax, 1 << 20);
  const stats: OtlpReceiverStats = {
    requestCount: 0,
    requestCountAccepted: 0,
    spanCount: 0,
    rejectCount: 0,
    rejectCountByStatus: {},
  };

  function reject(
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    reason: string,
    encoding?: OtlpEncoding,
  ): void {
    stats.rejectCount++;
    stats.rejectCountByStatus[status] = (stats.rejectCountByStatus[status] ?? 0) + 1;
    stats.rejectLast = { status, reason };
    if (res.headersSent || res.destroyed) return;
    let body: Uint8Array;
    if (encoding === undefined) {
      body = Buffer.from(`${reason}\n`);
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    } else {
      let code: number = RPC_CODE.invalidArgument;
      if (status === 413) code = RPC_CODE.resourceExhausted;
      else if (status >= 500) code = RPC_CODE.internal;
      body = encodeOtlpStatus(encoding, code, reason);
      res.setHeader('Content-Type', OTLP_CONTENT_TYPE[encoding]);
    }
    if (!req.complete) {
      res.setHeader('Connection', 'close');
      let discarded = 0;
      req.removeAllListeners('data');
      req.on('data', (chunk: Buffer) => {
        discarded += chunk.length;
        if (discarded > discardBytesMax) req.destroy();
      });
      req.resume();
    }
    res.writeHead(status, { 'Content-Length': body.length });
    res.end(body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    stats.requestCount++;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path !== OTLP_TRACES_PATH) {
      return reject(req, res, 404, `no route ${path}; POST OTLP traces to ${OTLP_TRACES_PATH}`);
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      return reject(req, res, 405, `${req.method ?? '?'} not allowed on ${path}; use POST`);
    }
    const contentType = req.headers['content-type'];
    const encoding = otlpEncodingOf(contentType);
    if (encoding === undefined) {
      return reject(
        req,
        res,
        415,
        `unsupported Content-Type ${JSON.stringify(contentType ?? '')}; ` +
          `send ${OTLP_CONTENT_TYPE.protobuf} or ${OTLP_CONTENT_TYPE.json}`,
      );
    }
    const contentEncoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (contentEncoding !== 'identity' && contentEncoding !== 'gzip' && contentEncoding !== '') {
      const what = JSON.stringify(contentEncoding);
      return reject(req, res, 415, `unsupported Content-Encoding ${what}; use gzip`);
    }
    const tooLarge = `request body exceeds ${bodyBytesMax} bytes; send smaller batches`;
    const declared = Number(req.headers['content-length'] ?? NaN);
    if (declared > bodyBytesMax) return reject(req, res, 413, tooLarge, encoding);

    const body = await readBody(req, bodyBytesMax);
    if (body === 'aborted') return; // the client left; nobody to answer
    if (body === 'too-large') return reject(req, res, 413, tooLarge, encoding);

    let plain: Uint8Array = body;
    if (contentEncoding === 'gzip') {
      try {
        plain = await gunzipAsync(body, { maxOutputLength: bodyBytesMax });
      } catch (e) {
        if ((e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
          return reject(req, res, 413, `gzip body inflates beyond ${bodyBytesMax} bytes`, encoding);
        }
        return reject(req, res, 400, `body: bad gzip (${(e as Error).message})`, encoding);
      }
    }

    let spans: SpanRecord[];
    try {
      spans = encoding === 'protobuf' ? decodeOtlpProtobuf(plain) : decodeOtlpJson(plain);
    } catch (e) {
      if (e instanceof OtlpDecodeError) return reject(req, res, 400, e.message, encoding);
      throw e;
    }
    try {
      await opts.onSpans(spans);
    } catch (e) {
      const reason = `analyzer failed on this batch: ${(e as Error).message}`;
      return reject(req, res, 500, reason, encoding);
    }
    stats.requestCountAccepted++;
    stats.spanCount += spans.length;
    const out = encodeOtlpResponse(encoding);
    res.writeHead(200, {
      'Content-Type': OTLP_CONTENT_TYPE[encoding],
      'Content-Length': out.length,
    });
    res.end(out);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      // A bug in the receiver: answer 500 rather than leave the sender hanging, then surface it.
      reject(req, res, 500, `internal error: ${(e as Error).message}`);
      process.nextTick(() => {
        throw e;
      });
    });
  });
  server.maxConnections = opts.connectionCountMax ?? 64;

  await new Promise<void>((resolve, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(opts.port, host, () => {
      server.off('error', rejectListen);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };
  return {
    url: `http://${urlHost}:${port}${OTLP_TRACES_PATH}`,
    host,
    port,
    stats: () => ({ ...stats, rejectCountByStatus: { ...stats.rejectCountByStatus } }),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Reads a body of at most `bytesMax`; stops collecting (and says so) as soon as it is over. */
type BodyRead = Buffer | 'too-large' | 'aborted';

function readBody(req: IncomingMessage, bytesMax: number): Promise<BodyRead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    const settle = (r: BodyRead): void => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      resolve(r);
    };
    const onData = (chunk: Buffer): void => {
      bytes += chunk.length;
      if (bytes > bytesMax) {
        chunks.length = 0;
        settle('too-large');
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => settle(Buffer.concat(chunks, bytes)));
    req.once('error', () => settle('aborted'));
    req.once('close', () => settle(req.complete ? Buffer.concat(chunks, bytes) : 'aborted'));
  });
}
