/**
 * A self-contained HTML report of one run's spans (inline CSS and SVG, no script, no network): a
 * per-CPU Lamport diagram of the IPIs (ignored ones in red, late ones in orange), latency
 * histograms, a /proc/interrupts-like table of what each CPU sent and took, and for every ignored
 * IPI the cause and the interleaving.
 */
import type { Analysis } from './analyze.js';
import type { IpiRecord } from './ipi-judge.js';

function esc(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const IPIS_DRAWN_MAX = 400;

export interface ReportOptions {
  title?: string;
  jaegerUrl?: string;
}

export function renderReportHtml(a: Analysis, opts: ReportOptions = {}): string {
  const title = opts.title ?? 'ipiscope run report';
  const j = a.judged;
  const s = a.summary;
  const lost = `${s.ignored.length} IPI${s.ignored.length === 1 ? '' : 's'} ignored`;
  const verdict = !s.complete
    ? `INCOMPLETE: the spans stop before the end of the run, no verdict (${lost} so far; see the errors)`
    : s.ignored.length > 0
      ? `LOST: ${lost}`
      : s.errors.length > 0
        ? 'UNKNOWN: the spans cannot be judged (see the errors)'
        : 'OK: every IPI handled';
  const good = s.ignored.length === 0 && s.errors.length === 0;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}
.verdict{font-weight:bold;padding:6px 10px;display:inline-block;border-radius:4px}
.bad{background:#fdd;color:#900}.good{background:#dfd;color:#060}
pre{background:#f6f6f6;padding:10px;overflow-x:auto;font-size:12px}
table{border-collapse:collapse;font:12px monospace}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}
.legend span{display:inline-block;margin-right:14px}
</style></head><body>
<h1>${esc(title)}</h1>
<p class="verdict ${good ? 'good' : 'bad'}" id="verdict">${esc(verdict)}</p>
${s.errors.length > 0 ? `<ul id="errors">${s.errors.slice(0, 50).map((e) => `<li>${esc(e)}</li>`).join('')}</ul>${s.errors.length > 50 ? `<p>... and ${s.errors.length - 50} more errors.</p>` : ''}` : ''}
<p>${s.ipis} IPIs from ${s.spans} spans: ${s.handled} handled, ${s.late.length} late, ${s.ignored.length} ignored,
${s.pending} pending, ${s.incomplete} incomplete. Run end tick ${j.tickEnd}; settle ${j.settleTicks} ticks.</p>
<h2>Lamport diagram</h2>
<p class="legend"><span style="color:#c00">&#9632; ignored</span><span style="color:#e80">&#9632; late</span><span style="color:#48c">&#9632; handled</span>
Vertical axis: Lamport clock (causal order), one column per CPU.</p>
${lamportSvg(j.ipis)}
<h2>Latency histogram (ticks from ipi_message_set to the demux that consumed it)</h2>
${histogramSvg(j.ipis.filter((i) => i.latency_ticks >= 0).map((i) => i.latency_ticks))}
<h2>Interrupts (from spans)</h2>
${interruptsTable(j.ipis)}
<h2>Ignored IPIs</h2>
${s.ignored.length === 0 ? '<p>None.</p>' : j.ignored.map((i) => ignoredBlock(i, opts.jaegerUrl)).join('\n')}
${s.late.length > 0 ? `<h2>Late IPIs</h2><ul id="late">${s.late.slice(0, 50).map((l) => `<li>IPI ${esc(l.ipi_id)}: CPU ${l.sender_cpu} &rarr; CPU ${l.target_cpu}, ${l.latency_ticks} ticks (trace <code>${l.trace_id}</code>): ${esc(l.cause)}</li>`).join('')}</ul>${s.late.length > 50 ? `<p>... and ${s.late.length - 50} more.</p>` : ''}` : ''}
${s.hung.length > 0 ? `<h2>Hung CPUs</h2><ul>${s.hung.map((h) => `<li>CPU ${h.cpu} spins in ${esc(h.where)} waiting for CPU ${h.waiting_for} (trace <code>${h.trace_id}</code>)</li>`).join('')}</ul>` : ''}
</body></html>
`;
}

function ignoredBlock(i: IpiRecord, jaeger: string | undefined): string {
  const link = jaeger
    ? ` <a href="${esc(jaeger.replace(/\/$/, ''))}/trace/${i.trace_id}">Jaeger</a>`
    : '';
  return `<h3 id="ipi-${esc(i.ipi_id)}">IPI ${esc(i.ipi_id)}: ${esc(i.msg_name)} CPU ${i.sender_cpu} &rarr; CPU ${i.target_cpu} (trace <code>${i.trace_id}</code>)${link}</h3>
<p>${esc(i.cause ?? '')}</p><pre>${esc(i.diagram ?? '')}</pre>`;
}

function lamportSvg(ipis: IpiRecord[]): string {
  // Keep every ignored and late IPI, then the earliest handled ones up to the bound.
  const special = ipis.filter((i) => i.judgement === 'ignored' || i.judgement === 'late');
  const rest = ipis
    .filter((i) => i.judgement !== 'ignored' && i.judgement !== 'late')
    .slice(0, Math.max(0, IPIS_DRAWN_MAX - special.length));
  const drawn = [...special, ...rest].sort((a, b) => a.sent_clock - b.sent_clock);
  if (drawn.length === 0) return '<p>No IPIs.</p>';
  const cpus = [...new Set(drawn.flatMap((i) => [i.sender_cpu, i.target_cpu]))].sort(
    (a, b) => a - b,
  );
  const col = new Map(cpus.map((c, k) => [c, k]));
  const colW = 56;
  const rowH = 14;
  const width = 60 + cpus.length * colW;
  const height = 40 + drawn.length * rowH + 20;
  const x = (c: number): number => 60 + (col.get(c) as number) * colW + colW / 2;
  const parts: string[] = [];
  for (const c of cpus) {
    parts.push(`<line x1="${x(c)}" y1="30" x2="${x(c)}" y2="${height - 10}" stroke="#ddd"/>`);
    parts.push(`<text x="${x(c)}" y="20" text-anchor="middle" font-size="11">CPU${c}</text>`);
  }
  drawn.forEach((i, k) => {
    const y1 = 40 + k * rowH;
    const color = i.judgement === 'ignored' ? '#c00' : i.judgement === 'late' ? '#e80' : '#48c';
    const y2 =
      i.judgement === 'ignored' || i.judgement === 'pending' ? y1 + rowH * 0.6 : y1 + rowH * 0.9;
    const dash = i.judgement === 'ignored' ? ' stroke-dasharray="3,2"' : '';
    parts.push(
      `<g class="ipi ${i.judgement}"><title>IPI ${esc(i.ipi_id)} ${esc(i.msg_name)} ${i.sender_cpu}->${i.target_cpu}: ${i.judgement}, clock ${i.sent_clock}</title>` +
        `<line x1="${x(i.sender_cpu)}" y1="${y1}" x2="${x(i.target_cpu)}" y2="${y2}" stroke="${color}" stroke-width="${i.judgement === 'ignored' ? 2.5 : 1}"${dash}/>` +
        `<circle cx="${x(i.sender_cpu)}" cy="${y1}" r="2" fill="${color}"/>` +
        (i.judgement === 'ignored'
          ? `<text x="${x(i.target_cpu) + 4}" y="${y2 + 3}" font-size="10" fill="#c00">&#10007; ${esc(i.ipi_id)}</text>`
          : '') +
        '</g>',
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="Lamport diagram">${parts.join('')}</svg>`;
}

function histogramSvg(values: number[]): string {
  if (values.length === 0) return '<p>No handled IPIs.</p>';
  // Log2 buckets: 1, 2-3, 4-7, ...
  const buckets = new Map<number, number>();
  for (const v of values) {
    const b = v <= 0 ? 0 : Math.floor(Math.log2(v)) + 1;
    buckets.set(b, (buckets.get(b) ?? 0) + 1);
  }
  const maxB = Math.max(...buckets.keys());
  const maxN = Math.max(...buckets.values());
  const barW = 28;
  const h = 160;
  const parts: string[] = [];
  for (let b = 0; b <= maxB; b++) {
    const n = buckets.get(b) ?? 0;
    const bh = Math.round((n / maxN) * (h - 40));
    const x0 = 40 + b * barW;
    parts.push(
      `<rect x="${x0}" y="${h - 20 - bh}" width="${barW - 4}" height="${bh}" fill="#48c"><title>${b === 0 ? '0' : `${2 ** (b - 1)}-${2 ** b - 1}`} ticks: ${n}</title></rect>`,
    );
    parts.push(
      `<text x="${x0 + barW / 2 - 2}" y="${h - 6}" font-size="9" text-anchor="middle">${b === 0 ? 0 : 2 ** (b - 1)}</text>`,
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${60 + (maxB + 1) * barW}" height="${h}" role="img" aria-label="latency histogram">${parts.join('')}<text x="4" y="12" font-size="10">max ${maxN}</text></svg>`;
}

function interruptsTable(ipis: IpiRecord[]): string {
  const cpus = [...new Set(ipis.flatMap((i) => [i.sender_cpu, i.target_cpu]))]
    .sort((a, b) => a - b)
    .slice(0, 32);
  if (cpus.length === 0) return '<p>No IPIs.</p>';
  const row = (label: string, f: (c: number) => number): string =>
    `<tr><th>${esc(label)}</th>${cpus.map((c) => `<td>${f(c)}</td>`).join('')}</tr>`;
  return `<table><tr><th></th>${cpus.map((c) => `<th>CPU${c}</th>`).join('')}</tr>
${row('IPI sent', (c) => ipis.filter((i) => i.sender_cpu === c).length)}
${row('DBL/IPI handled', (c) => ipis.filter((i) => i.target_cpu === c && (i.judgement === 'handled' || i.judgement === 'late')).length)}
${row('ignored', (c) => ipis.filter((i) => i.target_cpu === c && i.judgement === 'ignored').length)}
</table>`;
}
