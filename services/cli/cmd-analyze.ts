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

const spec = {
  summary:
    'Judges every IPI of a run from its OpenTelemetry spans alone: handled, handled late, or ignored, ' +
    'with the root cause and the interleaving of each ignored one. Reads a span file (one OTLP/JSON ' +
    'export request per line, as --trace-file writes) or listens for OTLP/HTTP on loopback.',
  flags: {
    json: {
      type: 'boolean',
      help: 'print verdicts as JSON; the last line is {"ipis", "ignored": [...], "late": [...]}',
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
  rest: { name: 'FILE', help: 'span file (JSON Lines of OTLP/JSON export requests)' },
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
    let spans: SpanRecord[];
    if (f.listen !== undefined) {
      if (a.rest.length > 0) {
        err('ipiscope analyze: give either a span FILE or --listen PORT, not both');
        return 2;
      }
      spans = await listen(f.listen, f.host, f.maxBodyBytes, !!f.json);
    } else {
      if (a.rest.length !== 1) {
        err(
          'ipiscope analyze: give one span file (e.g. ipiscope analyze run.spans.jsonl), or --listen PORT',
        );
        return 2;
      }
      const file = a.rest[0] as string;
      const r = await readSpanFile(file);
      for (const e of r.errors.slice(0, 10)) err(`ipiscope analyze: ${e.message} (line skipped)`);
      if (r.errors.length + r.errorCountDropped > 10)
        err(
          `ipiscope analyze: ${r.errors.length + r.errorCountDropped - 10} more bad lines skipped`,
        );
      spans = r.spans;
    }
    const an = analyzeSpans(spans, opts);
    if (f.report !== undefined) writeReport(f.report, an, opts.jaegerUrl);
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
        }),
      );
    } else {
      out(formatAnalysis(an, opts));
    }
    if (an.summary.ignored.length > 0) return 1;
    return an.summary.errors.length > 0 ? 2 : 0;
  },
};

function writeReport(path: string, an: Analysis, jaegerUrl: string | undefined): void {
  try {
    writeFileSync(path, renderReportHtml(an, jaegerUrl !== undefined ? { jaegerUrl } : {}));
  } catch (e) {
    err(`ipiscope analyze: cannot write report ${path} (${(e as Error).message})`);
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
    `ipiscope analyze: ${st.requestCountAccepted} requests, ${st.spanCount} spans accepted, ${st.rejectCount} rejected${live.spanCountDropped > 0 ? `, ${live.spanCountDropped} spans over the bound dropped` : ''}`,
  );
  return live.spans;
}
