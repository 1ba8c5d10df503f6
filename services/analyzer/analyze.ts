/**
 * The analyzer's verdict on a set of spans: every IPI judged, ignored ones explained, the JSON
 * summary `ipiscope analyze --json` prints, and an incremental judge for the live receiver.
 */
import { ATTR, SPAN } from '../tracing/index.js';
import type { SpanRecord } from './otlp-decode.js';
import { judgeSpans } from './ipi-judge.js';
import type { IpiRecord, Judged, JudgeOptions, LatencyParts } from './ipi-judge.js';
import { explainIgnored } from './explain.js';

export interface AnalyzeSummaryIpi {
  ipi_id: string;
  sender_cpu: number;
  target_cpu: number;
  msg: number;
  trace_id: string;
  cause: string;
  /** For ignored IPIs: `message-store-deferred`, `clear-deferred`, `transport-lost`, `not-consumed`. */
  cause_kind?: string;
  latency_ticks?: number;
  /** For late IPIs: where the latency went. */
  parts?: LatencyParts;
  jaeger?: string;
}

/** The last line of `ipiscope analyze --json`. */
export interface AnalyzeSummary {
  ipis: number;
  handled: number;
  pending: number;
  incomplete: number;
  ignored: AnalyzeSummaryIpi[];
  late: AnalyzeSummaryIpi[];
  hung: Array<{ cpu: number; where: string; waiting_for: number; trace_id: string }>;
  /** Why the judgement is not to be trusted whole: the input's skipped lines (`file:line:
   * reason`), a trace cut short, checker errors. Empty for a clean verdict. */
  errors: string[];
  /** The spans reach the end of the run (every run span is there). */
  complete: boolean;
  spans: number;
}

export interface Analysis {
  judged: Judged;
  summary: AnalyzeSummary;
}

export interface AnalyzeOptions extends JudgeOptions {
  /** Jaeger UI base URL: verdicts carry `<url>/trace/<trace_id>`. */
  jaegerUrl?: string;
  /** What was wrong with the input before the spans were judged (a span file's skipped lines,
   * `file:line: reason`): listed first in `errors`. */
  inputErrors?: readonly string[];
}

export function analyzeSpans(spans: readonly SpanRecord[], opts: AnalyzeOptions = {}): Analysis {
  const judged = judgeSpans(spans, opts);
  const ex = explainIgnored(judged);
  const link = (id: string): { jaeger?: string } =>
    opts.jaegerUrl ? { jaeger: `${opts.jaegerUrl.replace(/\/$/, '')}/trace/${id}` } : {};
  const summary: AnalyzeSummary = {
    ipis: judged.ipis.length,
    handled: judged.ipis.filter((i) => i.judgement === 'handled').length,
    pending: judged.ipis.filter((i) => i.judgement === 'pending').length,
    incomplete: judged.incomplete.length,
    ignored: judged.ignored.map((i) => ({
      ipi_id: i.ipi_id,
      sender_cpu: i.sender_cpu,
      target_cpu: i.target_cpu,
      msg: i.msg,
      trace_id: i.trace_id,
      cause: i.cause ?? '',
      ...(i.cause_kind !== undefined ? { cause_kind: i.cause_kind } : {}),
      ...link(i.trace_id),
    })),
    late: judged.late.map((i) => ({
      ipi_id: i.ipi_id,
      sender_cpu: i.sender_cpu,
      target_cpu: i.target_cpu,
      msg: i.msg,
      trace_id: i.trace_id,
      cause: lateCause(i, judged.lateTicks),
      latency_ticks: i.latency_ticks,
      ...(i.parts !== undefined ? { parts: i.parts } : {}),
      ...link(i.trace_id),
    })),
    hung: ex.hangs(),
    errors: [
      ...(opts.inputErrors ?? []),
      ...(judged.cutShort !== undefined
        ? [`the trace is incomplete: ${judged.cutShort}; its IPIs are judged only as far as the spans go, which is no verdict on the run`]
        : []),
      ...judged.errors,
    ],
    complete: judged.cutShort === undefined,
    spans: spans.length,
  };
  return { judged, summary };
}

const ERRORS_SHOWN_MAX = 10;

/** Human-readable verdict lines. */
export function formatAnalysis(a: Analysis, opts: { jaegerUrl?: string } = {}): string {
  const s = a.summary;
  const out: string[] = [];
  out.push(
    `${s.ipis} IPIs from ${s.spans} spans: ${s.handled} handled, ${s.late.length} late, ${s.ignored.length} ignored, ` +
      `${s.pending} pending at the end, ${s.incomplete} incomplete (spans missing).`,
  );
  if (!s.complete)
    out.push(wrap(`INCOMPLETE TRACE: ${a.judged.cutShort ?? ''}. The IPIs are judged only as far as the spans go: this is no verdict on the run.`, 98, ''));
  const ignoredById = new Map<string, IpiRecord>(a.judged.ignored.map((i) => [i.ipi_id, i]));
  for (const i of s.ignored) {
    const rec = ignoredById.get(i.ipi_id);
    out.push('');
    out.push(
      `IGNORED IPI ${i.ipi_id}: ${rec?.msg_name ?? i.msg} from CPU ${i.sender_cpu} to CPU ${i.target_cpu}, trace ${i.trace_id}${i.jaeger ? ` (${i.jaeger})` : ''}`,
    );
    out.push(wrap(i.cause, 98, '  '));
    if (rec?.diagram) out.push('', rec.diagram);
  }
  if (s.late.length > 0) {
    out.push('');
    const by = { sender: 0, 'in-flight': 0, 'before-interrupt': 0, target: 0, unknown: 0 };
    for (const l of s.late) by[l.parts?.where ?? 'unknown']++;
    const where = [
      by.sender > 0 ? `${by.sender} on the sender (its stores and barriers before the send)` : '',
      by['in-flight'] > 0 ? `${by['in-flight']} in flight` : '',
      by['before-interrupt'] > 0 ? `${by['before-interrupt']} before the interrupt reached the target (the sender's barriers and the hop, which one clock per core cannot tell apart)` : '',
      by.target > 0 ? `${by.target} on the target (from the interrupt to the demux that found the message)` : '',
      by.unknown > 0 ? `${by.unknown} not measurable from the spans` : '',
    ].filter((x) => x !== '');
    out.push(wrap(`${s.late.length} late IPIs, by where most of their time went: ${where.join('; ')}.`, 98, ''));
  }
  for (const l of s.late.slice(0, 20)) {
    out.push(`LATE IPI ${l.ipi_id}: CPU ${l.sender_cpu} -> CPU ${l.target_cpu}, ${l.latency_ticks} ticks, trace ${l.trace_id}`);
    out.push(wrap(l.cause, 98, '  '));
  }
  if (s.late.length > 20) out.push(`... and ${s.late.length - 20} more late IPIs`);
  if (s.hung.length > 0) {
    out.push('');
    for (const h of s.hung)
      out.push(
        `HUNG: CPU ${h.cpu} spins in ${h.where} waiting for CPU ${h.waiting_for} (trace ${h.trace_id}${opts.jaegerUrl ? ` ${opts.jaegerUrl.replace(/\/$/, '')}/trace/${h.trace_id}` : ''})`,
      );
  }
  if (s.errors.length > 0) out.push('');
  for (const e of s.errors.slice(0, ERRORS_SHOWN_MAX)) out.push(`error: ${e}`);
  if (s.errors.length > ERRORS_SHOWN_MAX) out.push(`... and ${s.errors.length - ERRORS_SHOWN_MAX} more errors (all of them in --json)`);
  return out.join('\n');
}

/** What a late IPI's latency was made of, in words. */
function lateCause(i: IpiRecord, lateTicks: number): string {
  const head = `handled ${i.latency_ticks} ticks after ${i.latency_from === 'set' ? 'it was set' : 'its message was ordered at the target'} (late: more than ${lateTicks})`;
  const p = i.parts;
  if (p === undefined) return head;
  const send = i.via === 'mfrr' ? 'MFRR write' : 'doorbell';
  const parts: string[] = [];
  if (p.sender_ticks !== undefined && i.latency_from === 'set')
    parts.push(
      `${p.sender_ticks} on CPU ${i.sender_cpu} before its ${send} left` +
        (p.slow_stores !== undefined && p.slow_stores.length > 0
          ? ` (its barriers wait for its stores to reach their homes: ${p.slow_stores.map((x) => `${x.loc} took ${x.ticks} ticks`).join(', ')})`
          : p.message_store_ticks !== undefined
            ? ` (its message store reached its home ${p.message_store_ticks} ticks after it was issued)`
            : ''),
    );
  if (p.in_flight_ticks !== undefined) parts.push(`${p.in_flight_ticks} in flight`);
  if (p.until_interrupt_ticks !== undefined) parts.push(`${p.until_interrupt_ticks} from then until its ${send} raised the interrupt at CPU ${i.target_cpu}`);
  if (p.target_ticks !== undefined)
    parts.push(
      p.other_interrupt
        ? `${p.target_ticks} until CPU ${i.target_cpu} found the message in a demux run for another interrupt (${
            i.send_tick < 0 ? 'the trace holds no send of its own' : i.raise_tick < 0 ? `no interrupt from its own ${send} reached CPU ${i.target_cpu} in the trace` : `its own ${send} raised one only after that`
          })`
        : `${p.target_ticks} on CPU ${i.target_cpu} from the interrupt to the demux that found the message`,
    );
  if (parts.length === 0) return head;
  const own =
    i.latency_from === 'ordered' && p.sender_ticks !== undefined
      ? ` (on CPU ${i.sender_cpu}'s own clock, ${p.sender_ticks} ticks passed from the set to its ${send}; the cores keep clocks of their own)`
      : '';
  return `${head}: ${parts.join(', ')}${own}.`;
}

function wrap(text: string, width: number, indent: string): string {
  const words = text.split(' ');
  const lines: string[] = [];
  let cur = indent;
  for (const w of words) {
    if (cur.length + w.length + 1 > width && cur.trim() !== '') {
      lines.push(cur);
      cur = indent;
    }
    cur += (cur.trim() === '' ? '' : ' ') + w;
  }
  if (cur.trim() !== '') lines.push(cur);
  return lines.join('\n');
}

/** Keeps the spans of a live receiver (bounded) and reports IPIs as their traces complete. */
export class LiveAnalyzer {
  readonly spans: SpanRecord[] = [];
  spanCountDropped = 0;
  private readonly reported = new Set<string>();

  constructor(private readonly spanCountMax = 2_000_000) {}

  /** Adds a batch; returns one line per IPI whose fate the batch settled (handled, late, ignored). */
  add(batch: readonly SpanRecord[]): string[] {
    const lines: string[] = [];
    for (const s of batch) {
      if (this.spans.length >= this.spanCountMax) {
        this.spanCountDropped++;
        continue;
      }
      this.spans.push(s);
      const id = s.attributes[ATTR.ipiId];
      const outcome = s.attributes[ATTR.ipiOutcome];
      if (typeof id !== 'string' || typeof outcome !== 'string' || this.reported.has(id)) continue;
      if (!(s.name.startsWith(SPAN.handler) || s.name === SPAN.verdict)) continue;
      if (outcome === 'pending') continue;
      this.reported.add(id);
      lines.push(`IPI ${id}: ${outcome}, trace ${s.traceId}`);
    }
    return lines;
  }
}
