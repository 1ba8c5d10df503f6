/**
 * W3C trace context in NATS message headers. nats.js `MsgHdrs` has `get(k)` (empty string when
 * absent), `set(k, v)` and `keys()`; the carrier asks only for that much, so a plain `Map` works
 * in tests and the transport needs no OTel import beyond these two helpers.
 */
import { propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import type { SpanContext, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

/** The part of nats.js `MsgHdrs` the carrier uses. */
export interface HeaderCarrier {
  get(key: string): string | undefined | null;
  set(key: string, value: string): void;
  keys(): Iterable<string>;
}

export const natsHeaderSetter: TextMapSetter<HeaderCarrier> = {
  set(carrier, key, value) {
    carrier.set(key, value);
  },
};

export const natsHeaderGetter: TextMapGetter<HeaderCarrier> = {
  keys(carrier) {
    return [...carrier.keys()];
  },
  get(carrier, key) {
    const v = carrier.get(key);
    // nats.js answers '' for an absent header; the propagator wants undefined.
    return v === null || v === undefined || v === '' ? undefined : v;
  },
};

const w3c = new W3CTraceContextPropagator();

/** Writes `traceparent` (and `tracestate`) for `span` into NATS headers. */
export function injectTraceContext(headers: HeaderCarrier, span: SpanContext): void {
  w3c.inject(trace.setSpanContext(ROOT_CONTEXT, span), headers, natsHeaderSetter);
}

/** The remote span context in NATS headers, or undefined when there is none (or it is invalid). */
export function extractTraceContext(headers: HeaderCarrier): SpanContext | undefined {
  const ctx = w3c.extract(ROOT_CONTEXT, headers, natsHeaderGetter);
  const sc = trace.getSpanContext(ctx);
  return sc !== undefined && trace.isSpanContextValid(sc) ? sc : undefined;
}

/** The `traceparent` string for a span context (for carriers that are not header maps). */
export function traceparentOf(span: SpanContext): string {
  const m = new Map<string, string>();
  injectTraceContext(mapCarrier(m), span);
  return m.get('traceparent') ?? '';
}

/** A span context from a `traceparent` string; undefined when malformed. */
export function spanContextOf(traceparent: string): SpanContext | undefined {
  return extractTraceContext(mapCarrier(new Map([['traceparent', traceparent]])));
}

/** A `HeaderCarrier` over a Map. */
export function mapCarrier(m: Map<string, string>): HeaderCarrier {
  return { get: (k) => m.get(k), set: (k, v) => void m.set(k, v), keys: () => m.keys() };
}

/** Installs the W3C propagator as the global one (entry points only). */
export function installW3cPropagator(): void {
  propagation.setGlobalPropagator(w3c);
}
