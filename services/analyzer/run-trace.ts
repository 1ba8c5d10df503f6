/**
 * The analyzer's judgement of a traced distributed run (`ipiscope run --trace-file FILE`): the
 * merged span file of every core judged as `ipiscope analyze FILE` would, set beside the run's
 * own verdict (the machine's ground truth, replayed in the controller), and the trace id of each
 * IPI the run found ignored, so the verdict links to its trace.
 */
import { analyzeSpans } from './analyze.js';
import type { JudgeOptions } from './ipi-judge.js';
import { readSpanFile } from './span-file.js';

/** Of the run's `--json` verdict, under `trace`. */
export interface RunTraceJudgement {
  file: string;
  spans: number;
  /** Span-file lines that could not be read (they are skipped, as by `ipiscope analyze`). */
  bad_lines: number;
  /** IPIs the analyzer found in the spans (every IPI of the run when nothing was sampled out). */
  ipis: number;
  /** The analyzer's ignored set, by `ipi_id`. */
  ignored: string[];
  /** The analyzer's ignored set equals the run's. */
  agrees: boolean;
  /** `ipi_id`s ignored by the run only, and by the analyzer only. */
  only_run: string[];
  only_trace: string[];
}

/**
 * Judges `file` and returns the judgement and `ipi_id` -> trace id for every IPI in it. Settle
 * and late thresholds are the ones the cores wrote on their run spans.
 */
export async function judgeRunTrace(
  file: string,
  runIgnored: ReadonlyArray<{ ipi_id: string }>,
  opts: Pick<JudgeOptions, 'settleTicks'> = {},
): Promise<{ judgement: RunTraceJudgement; traceIds: Map<string, string> }> {
  const r = await readSpanFile(file);
  const an = analyzeSpans(r.spans, opts);
  const traceIds = new Map<string, string>();
  for (const i of an.judged.ipis) traceIds.set(i.ipi_id, i.trace_id);
  const fromTrace = an.summary.ignored.map((i) => i.ipi_id).sort();
  const fromRun = new Set(runIgnored.map((i) => i.ipi_id));
  const traceSet = new Set(fromTrace);
  const onlyRun = [...fromRun].filter((id) => !traceSet.has(id)).sort();
  const onlyTrace = fromTrace.filter((id) => !fromRun.has(id));
  return {
    judgement: {
      file,
      spans: r.spans.length,
      bad_lines: r.errors.length + r.errorCountDropped,
      ipis: an.summary.ipis,
      ignored: fromTrace,
      agrees: onlyRun.length === 0 && onlyTrace.length === 0,
      only_run: onlyRun,
      only_trace: onlyTrace,
    },
    traceIds,
  };
}
