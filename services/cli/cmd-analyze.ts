import { writeFileSync } from 'node:fs';
import { parseArgs, formatHelp } from './args.js';
import type { Command } from './command.js';
import { out, err } from './command.js';
import {
  analyzeSpans,
  formatAnalysis,
  LiveAnalyzer,
  readSpanFile,
  renderReportHtml,
  startOtlpReceiver,
} from '../analyzer/index.js';
import type { Analysis, SpanRecord } from '../analyzer/index.js';
import { InputError } from '../stdx/index.js';
import { checkOutputFile } from './output-file.js';

const spec = {
  summary:
    'Judges every IPI of a run from its OpenTelemetry spans alone: handled, handled late, or ignored, ' +
    'with the root cause and the interleaving of each ignored one. Reads span files (one OTLP/JSON ' +
    'export request per line, as --trace-file writes; several are one trace) or listens for OTLP/HTTP ' +
    'on loopback. Exit status: 0 when no IPI was ignored, 1 when one was, 2 when the verdict cannot be trusted ' +
    '(skipped lines, a trace cut short before its run span: see "errors") or for a file with no spans.',
  flags: {
    json: {
      type: 'boolean',
      help: 'print verdicts as JSON; the last line is {"ipis", "ignored": [...], "late": [...], "errors": [...], "complete"}',
    },
    listen: {
      type: 'int',
      min: 0,
      max: 65535,
      metavar: 'PORT',
      help: 'receive OTLP/HTTP (protobuf or JSON) on 127.0.0.1:PORT until SIGINT',
    },
    host: {
      type: 'string',
      default: '127.0.0.1',
      help: 'interface --listen binds (0.0.0.0 only inside a container)',
    },
    report: { type: 'string', metavar: 'FILE', help: 'write a self-contained HTML report to FILE' },
    jaeger: {
      type: 'string',
      env: 'IPISCOPE_JAEGER_URL',
      metavar: 'URL',
      help: 'Jaeger UI base URL, e.g. http://localhost:16686: verdicts link to their trace',
    },
    lateTicks: {
      type: 'int',
      min: 1,
      help: 'a handled IPI is late after this many ticks (default: the run span, else 20000)',
    },
    settleTicks: {
      type: 'int',
      min: 0,
      help: 'an unconsumed IPI is ignored once ordered this many ticks before the end (default: the run span)',
    },
    maxBodyBytes: {
      type: 'int',
      min: 1024,
      default: 16 << 20,
      help: 'largest OTLP request accepted with --listen',
    },
  },
  rest: {
    name: 'FILE',
    help: 'span file (JSON Lines of OTLP/JSON export requests); several (e.g. one per core process) are judged together as one trace',
  },
} as const;

export const analyzeCommand: Command = {
  name: 'analyze',
  summary: 'judge every IPI from OpenTelemetry spans (a span file, or OTLP/HTTP with --listen)',
  example: 'ipiscope analyze run.spans.jsonl --json',
  spec,
  async run(argv) {
    const a = parseArgs(argv, spec, { env: process.env });
    if (a.help) {
      out(formatHelp('ipiscope analyze', spec));
      return 0;
    }
    const f = a.flags;
    const opts = {
      ...(f.jaeger !== undefined ? { jaegerUrl: f.jaeger } : {}),
      ...(f.lateTicks !== undefined ? { lateTicks: f.lateTicks } : {}),
      ...(f.settleTicks !== undefined ? { settleTicks: f.settleTicks } : {}),
    };
    // Before any span is read or received: a report that cannot be written is a usage error now.
    if (f.report !== undefined) checkOutputFile('--report', f.report);
    let spans: SpanRecord[];
    const inputErrors: string[] = [];
    if (f.listen !== undefined) {
      if (a.rest.length > 0) {
        err('ipiscope analyze: give either a span FILE or --listen PORT, not both');
        return 2;
      }
      spans = await listen(f.listen, f.host, f.maxBodyBytes, !!f.json);
    } else {
      if (a.rest.length === 0) {
        err(
          'ipiscope analyze: give one or more span files (e.g. ipiscope analyze run.spans.jsonl), or --listen PORT',
        );
        return 2;
      }
      // Several files (e.g. one per core process) are one trace: their spans are judged together.
      spans = [];
      for (const file of a.rest) {
        const r = await readSpanInput(file);
        for (const s of r.spans) spans.push(s);
        inputErrors.push(...r.errors);
      }
      for (const e of inputErrors.slice(0, 10)) err(`ipiscope analyze: ${e}`);
      if (inputErrors.length > 10) err(`ipiscope analyze: ${inputErrors.length - 10} more (all of them in --json)`);
    }
    const an = analyzeSpans(spans, { ...opts, inputErrors });
    const reportFailed = f.report !== undefined && !writeReport(f.report, an, opts.jaegerUrl);
    if (f.json) {
      for (const i of an.judged.ignored) {
        out(
          JSON.stringify({
            verdict: 'ignored',
            ipi_id: i.ipi_id,
            sender_cpu: i.sender_cpu,
            target_cpu: i.target_cpu,
            msg: i.msg,
            trace_id: i.trace_id,
            diagram: i.diagram,
          }),
        );
      }
      const s = an.summary;
      out(
        JSON.stringify({
          ipis: s.ipis,
          ignored: s.ignored,
          late: s.late,
          handled: s.handled,
          pending: s.pending,
          incomplete: s.incomplete,
          hung: s.hung,
          errors: s.errors,
          complete: s.complete,
        }),
      );
    } else {
      out(formatAnalysis(an, opts));
    }
    // A damaged input (skipped lines, a trace cut short) gives no verdict, whatever was judged.
    if (an.summary.errors.length > 0 || reportFailed) return 2;
    return an.summary.ignored.length > 0 ? 1 : 0;
  },
};

/**
 * The spans of one span file, and its skipped lines as `file:line: reason (line skipped)`. A file
 * without a single span is not a trace at all: an input error.
 */
async function readSpanInput(file: string): Promise<{ spans: SpanRecord[]; errors: string[] }> {
  const r = await readSpanFile(file);
  const bad = r.errors.length + r.errorCountDropped;
  if (r.spans.length === 0) {
    const what =
      r.lineCountGood + bad === 0
        ? 'it is empty'
        : bad === 0
          ? r.lineCountGood === 1 ? 'its one line holds no span' : `none of its ${r.lineCountGood} lines holds a span`
          : `none of its lines holds a span (${bad} could not be read, the first: ${r.errors[0]?.detail ?? '?'})`;
    throw new InputError(file, undefined, `no spans to judge: ${what}. A span file holds OTLP/JSON export requests, one per line, as --trace-file writes`);
  }
  const errors = r.errors.map((e) => `${e.message} (line skipped)`);
  if (r.errorCountDropped > 0) errors.push(`${file}: ${r.errorCountDropped} more bad lines skipped`);
  return { spans: r.spans, errors };
}

/** Writes the report; says whether it could (the path was checked before, but disks fill up). */
function writeReport(path: string, an: Analysis, jaegerUrl: string | undefined): boolean {
  try {
    writeFileSync(path, renderReportHtml(an, jaegerUrl !== undefined ? { jaegerUrl } : {}));
    return true;
  } catch (e) {
    err(`ipiscope analyze: cannot write report ${path} (${(e as Error).message})`);
    return false;
  }
}

async function listen(
  port: number,
  host: string,
  maxBodyBytes: number,
  json: boolean,
): Promise<SpanRecord[]> {
  const live = new LiveAnalyzer();
  const receiver = await startOtlpReceiver({
    port,
    host,
    maxBodyBytes,
    onSpans: (spans) => {
      for (const line of live.add(spans))
        out(json ? JSON.stringify({ event: 'verdict', line }) : line);
    },
  });
  err(
    `ipiscope analyze: listening on ${receiver.url} (OTLP/HTTP protobuf or JSON); Ctrl-C for the summary`,
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  const st = receiver.stats();
  await receiver.close();
  err(
    `ipiscope analyze: ${st.requestCountAccepted} request${st.requestCountAccepted === 1 ? '' : 's'} accepted (${st.spanCount} spans), ${st.rejectCount} rejected${live.spanCountDropped > 0 ? `, ${live.spanCountDropped} spans over the bound dropped` : ''}`,
  );
  return live.spans;
}
