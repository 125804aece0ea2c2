// Markdown for people: the job summary, the check run's summary and the sticky PR comment, all
// from one renderer. Pure: report in, text out. Every string that comes from the model or the
// user's inputs is HTML-escaped (GitHub renders HTML in all three, and core.summary escapes nothing).
import { cleanedModelFailure, phasesText, type CleanReport } from '../clean/report.js';
import { scanTitle, type HessianSummary, type ScanMethod } from '../scan/registry.js';
import { thresholdsFor } from '../core/verdict.js';
import { featuresOf } from '../model/structure.js';
import type { DecisionStatistic, GateReport, ScanSummary } from './types.js';
import { percent } from '../util/words.js';

/** GitHub's limits: job summary 1 MiB per step; check run summary and comments 65,535 / 65,536 characters. */
export const LIMITS = { summaryBytes: 1024 * 1024, checkSummaryChars: 65535, commentChars: 65536 } as const;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'|`\\*_[\]]/g, (c) => `&#${c.charCodeAt(0)};`).replace(/\r?\n/g, ' ');
}

const code = (text: string) => `<code>${escapeHtml(text)}</code>`;
const num = (v: unknown, digits = 3) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : 'n/a');
const pct = (v: number | null | undefined) => (typeof v === 'number' ? percent(v) : 'n/a');

export const VERDICT_BADGE: Record<GateReport['verdict'], string> = {
  clean: '✅ clean',
  suspicious: '⚠️ suspicious',
  backdoored: '⛔ backdoored',
  unassessed: '❔ unassessed',
  error: '❌ could not scan',
};

/** The verdict as headings show it: a model the policy accepted unassessed says so. */
export const verdictBadge = (report: Pick<GateReport, 'verdict' | 'accepted'>) =>
  `${VERDICT_BADGE[report.verdict]}${report.accepted ? ' (accepted by the policy)' : ''}`;

export interface MarkdownLinks {
  /** Where the JSON report was written (shown as a path). */
  reportPath?: string;
  /** The uploaded scan-image artifact, or why there is none. */
  imagesUrl?: string;
  imagesNote?: string;
  /** overview.png, uploaded on its own (unzipped). */
  overviewUrl?: string;
  /** The job summary, linked from the comment. */
  runUrl?: string;
}

export interface MarkdownOptions {
  /** Mermaid renders in job summaries and comments, not reliably in check runs. */
  mermaid: boolean;
  links?: MarkdownLinks;
  clean?: CleanReport;
  /** A heading prefix, e.g. the check name. */
  title?: string;
}

function overview(report: GateReport, links: MarkdownLinks | undefined): string[][] {
  const rows: string[][] = [
    ['verdict', `<b>${verdictBadge(report)}</b>`],
    ['score', report.score === null ? 'n/a' : num(report.score)],
  ];
  if (report.suspectedTarget !== undefined && report.suspectedTarget !== null) rows.push(['suspected target class', String(report.suspectedTarget)]);
  rows.push(['model', code(report.model.spec)]);
  if (report.model.digest) rows.push(['digest', code(report.model.digest)]);
  if (report.accepted)
    rows.push(['accepted', `by ${code(report.accepted.policy)} (accept-unassessed)${report.accepted.note ? `: ${escapeHtml(report.accepted.note)}` : ''}`]);
  if (report.model.inputShape)
    rows.push([
      'input',
      `${report.model.inputShape.join('×')}, ${report.model.numClasses ?? '?'} classes (${escapeHtml(report.model.format ?? 'model')}${report.model.classPrompts ? `, class prompts: ${report.model.classPrompts}` : ''})`,
    ]);
  const structure = report.model.structure;
  if (structure) rows.push(['network', featuresOf(structure).join(', ') || 'no skip connections or depthwise convolutions']);
  if (report.data) rows.push(['probe images', `${report.data.count} from ${code(report.data.source)}`]);
  if (report.policy) rows.push(['policy', `${escapeHtml(report.policy.source)}; fails on ${escapeHtml(report.policy.failOn)}`]);
  if (report.engine) rows.push(['backend', escapeHtml(report.engine.backend)]);
  if (report.timings.totalSeconds !== undefined) rows.push(['time', `${num(report.timings.totalSeconds, 1)} s`]);
  if (links?.reportPath) rows.push(['JSON report', code(links.reportPath)]);
  return rows;
}

function table(header: string[], rows: string[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** A voting scan's decision statistic, threshold and name, as the verdict used them. */
function decisionOf(
  report: GateReport,
  method: ScanMethod,
): { stat: DecisionStatistic; threshold?: { suspicious: number; backdoored: number }; name: string } | undefined {
  const t =
    report.policy?.thresholds &&
    thresholdsFor(report.policy.thresholds, {
      numClasses: report.model.numClasses ?? 10,
      decision: report.model.head === 'multi-label' ? 'multi-label' : 'single-label',
      structure: report.model.structure,
      dualEncoder: report.model.format === 'dual-encoder',
    });
  const name = `${method} statistic`;
  switch (method) {
    case 'trigger-inversion':
      return report.statistics?.dense && { stat: report.statistics.dense, threshold: t?.inversion, name };
    case 'mask-inversion':
      return report.statistics?.mask && { stat: report.statistics.mask, threshold: t?.maskInversion, name };
    case 'max-margin':
      return report.statistics?.maxMargin && { stat: report.statistics.maxMargin, threshold: report.policy?.thresholds?.maxMargin, name };
    case 'input-hessian':
      return undefined;
  }
}

function scanRow(report: GateReport, scan: ScanSummary): string[] {
  const title = escapeHtml(scanTitle(scan.method));
  switch (scan.method) {
    case 'trigger-inversion':
    case 'mask-inversion': {
      const d = decisionOf(report, scan.method);
      const target = d ? d.stat.target : scan.suspectedTarget;
      const figure = d
        ? `${d.name} ${num(d.stat.value, 2)}${d.threshold ? ` (suspicious > ${d.threshold.suspicious}, backdoored > ${d.threshold.backdoored})` : ''}${'inconclusive' in scan && scan.inconclusive ? ', inconclusive' : ''}`
        : '';
      // The untargeted mask votes apart and points at no class (all-to-all backdoors).
      const u = scan.method === 'mask-inversion' ? report.statistics?.untargeted : undefined;
      const ut = report.policy?.thresholds?.untargetedMask;
      const untargeted = u
        ? `; untargeted mask statistic ${num(u.value, 2)}${ut ? ` (suspicious > ${ut.suspicious}, backdoored > ${ut.backdoored})` : ''}`
        : '';
      return [title, target === null ? 'no class' : `class ${target}`, figure + untargeted, num(scan.seconds, 1)];
    }
    case 'max-margin': {
      const d = decisionOf(report, scan.method);
      const figure = d
        ? `−log₁₀ p ${num(d.stat.value, 2)}${d.threshold ? ` (suspicious > ${d.threshold.suspicious}, backdoored > ${d.threshold.backdoored})` : ''}`
        : 'not judged (two-class or multi-label head)';
      return [title, d ? `class ${d.stat.target}` : '—', figure, num(scan.seconds, 1)];
    }
    case 'input-hessian':
      return [
        `${title} (report only)`,
        '—',
        `λ₁/λ₂ ${num(scan.gap, 2)}, spike z ${num(scan.spikeZ, 2)}, localisation ${num(scan.localisation, 1)}`,
        num(scan.seconds, 1),
      ];
  }
}

/**
 * A Mermaid bar chart of the statistic that decided the verdict (the voting scan furthest above,
 * or closest below, its suspicious threshold), per class, with that threshold drawn as a line.
 */
export function decisionChart(report: GateReport): string | undefined {
  // The data-free scan's per-class values are margins, not its statistic (−log₁₀ p is one number for the model).
  const candidates = report.scans.flatMap((scan) => {
    if (scan.method === 'max-margin') return [];
    const d = decisionOf(report, scan.method);
    return d?.threshold && d.stat.perClass?.some((v) => v !== null) ? [d] : [];
  });
  if (!candidates.length) return undefined;
  const d = candidates.reduce((a, c) => (c.stat.value - c.threshold!.suspicious > a.stat.value - a.threshold!.suspicious ? c : a));
  const values = d.stat.perClass!.map((v) => (v === null ? 0 : Number(v.toFixed(3))));
  const line = values.map(() => d.threshold!.suspicious);
  return [
    '```mermaid',
    'xychart-beta',
    `  title "${d.name} per class (line: suspicious threshold ${d.threshold!.suspicious})"`,
    `  x-axis [${values.map((_, c) => c).join(', ')}]`,
    '  y-axis "statistic"',
    `  bar [${values.join(', ')}]`,
    `  line [${line.join(', ')}]`,
    '```',
  ].join('\n');
}

function perClassTables(report: GateReport): string[] {
  const out: string[] = [];
  for (const scan of report.scans) {
    if (scan.method === 'input-hessian' || !scan.perClass.length) continue;
    const d = decisionOf(report, scan.method);
    if (scan.method === 'max-margin') {
      const body = scan.perClass.map((r) => [
        String(r.class),
        `${num(r.maxMargin, 2)}${r.screened ? ' (screened only)' : ''}`,
        r.class === d?.stat.target ? '⬅' : '',
      ]);
      out.push(`<details><summary>${escapeHtml(scanTitle(scan.method))}: per class</summary>\n\n${table(['class', 'largest margin', ''], body)}\n\n</details>`);
      continue;
    }
    const maskL1 = (r: (typeof scan.perClass)[number]) => ('maskL1' in r ? [num(r.maskL1, 1)] : []);
    const header = ['class', ...(scan.method === 'mask-inversion' ? ['mask L1'] : []), 'ASR', 'probe share', 'statistic'];
    const body = scan.perClass.map((r) => {
      const v = d?.stat.perClass?.[r.class];
      const stat = r.testable === false ? 'untestable (sink)' : r.screened ? 'screened only' : v === null || v === undefined ? '—' : num(v, 2);
      return [String(r.class), ...maskL1(r), pct(r.asr), pct(r.share), `${stat}${r.class === d?.stat.target ? ' ⬅' : ''}`];
    });
    out.push(`<details><summary>${escapeHtml(scanTitle(scan.method))}: per class</summary>\n\n${table(header, body)}\n\n</details>`);
  }
  return out;
}

/** A Mermaid bar chart of the top input-Hessian eigenvalues (a backdoor shows as an outlier). */
export function hessianChart(scan: HessianSummary): string | undefined {
  const values = scan.topEigenvalues.filter((v) => Number.isFinite(v));
  if (!values.length) return undefined;
  const shown = values.slice(0, 20).map((v) => Number(v.toPrecision(4)));
  return [
    '```mermaid',
    'xychart-beta',
    '  title "Input-Hessian spectrum (top eigenvalues, Gauss-Newton)"',
    `  x-axis [${shown.map((_, i) => i + 1).join(', ')}]`,
    '  y-axis "eigenvalue"',
    `  bar [${shown.join(', ')}]`,
    '```',
  ].join('\n');
}

function hessianTable(scan: HessianSummary): string | undefined {
  const values = scan.topEigenvalues.slice(0, 10);
  if (!values.length) return undefined;
  return table(['rank', ...values.map((_, i) => String(i + 1))], [['λ', ...values.map((v) => num(v, 4))]]);
}

function cleaningSection(clean: CleanReport): string[] {
  const rows: string[][] = [
    ['held-out accuracy', pct(clean.before.heldOutAccuracy), pct(clean.after?.heldOutAccuracy)],
    ['recovered-trigger ASR', pct(clean.before.recoveredTriggerAsr), pct(clean.after?.recoveredTriggerAsr)],
    ['verdict', escapeHtml(clean.verdictBefore), escapeHtml(clean.verdictAfter ?? 'n/a')],
  ];
  const failure = cleanedModelFailure(clean);
  const where = clean.output
    ? `cleaned model ${code(clean.output.dir)} (${code(clean.output.digest)}): ${failure ? `**does not pass**: ${escapeHtml(failure)}` : 'passes'}`
    : `nothing written: ${escapeHtml(clean.skipped ?? 'unknown')}`;
  const cost = clean.accuracyCost;
  const costLine = cost
    ? [
        `Accuracy cost: ${num(cost.points, 1)} points on ${cost.heldOutImages} held-out images (the policy allows ${num(cost.allowedPoints, 1)})${cost.interval95 ? `; 95 % interval ${num(cost.interval95[0], 1)} to ${num(cost.interval95[1], 1)} points` : ''}.`,
        '',
      ]
    : [];
  // What the verdict after rests on: a reviewer weighs a re-scan of 30 images unlike one of 300.
  const held = clean.data.heldBackProbes;
  const judgedOn =
    clean.rescannedImages === undefined
      ? []
      : [
          `Re-scanned on ${clean.rescannedImages} images the cleaning never read: ${held ? `${held} unlabelled images held back from the probes and ` : ''}${clean.data.heldOut} held-out labelled ones.`,
          '',
        ];
  const took = clean.totalSeconds === undefined ? [] : [`Took ${num(clean.totalSeconds, 0)} s: ${escapeHtml(phasesText(clean.timings))}.`, ''];
  const done = clean.steps?.length ? ['What was done:', '', ...clean.steps.map((s, i) => `${i + 1}. ${escapeHtml(s)}`), ''] : [];
  return [`### Cleaning (${escapeHtml(clean.method)})`, '', where, '', table(['', 'before', 'after'], rows), '', ...costLine, ...judgedOn, ...done, ...took];
}

/** The report as Markdown. Stays within `maxChars` by dropping detail sections, never the verdict. */
export function renderMarkdown(report: GateReport, options: MarkdownOptions, maxChars: number = LIMITS.commentChars): string {
  const head = [`## 🛡️ ${escapeHtml(options.title ?? 'Backdoor Gate')}: ${verdictBadge(report)}`, '', table(['', ''], overview(report, options.links)), ''];
  if (report.reasons.length || report.error)
    head.push('### Why', '', ...(report.error ? [`- ${escapeHtml(report.error)}`] : []), ...report.reasons.map((r) => `- ${escapeHtml(r)}`), '');
  const detail: string[] = [];
  if (report.scans.length)
    detail.push(
      '### Scans',
      '',
      table(
        ['scan', 'points at', 'figure', 'seconds'],
        report.scans.map((s) => scanRow(report, s)),
      ),
      '',
    );
  const chart = options.mermaid ? decisionChart(report) : undefined;
  if (chart) detail.push(chart, '');
  if (options.links?.overviewUrl)
    detail.push(`Every class's reconstructed trigger and mask, the suspect framed: [overview image](${encodeURI(options.links.overviewUrl)}).`, '');
  if (report.scans.length) detail.push(...perClassTables(report).flatMap((t) => [t, '']));
  const hessian = report.scans.find((s): s is HessianSummary => s.method === 'input-hessian');
  if (hessian) {
    const chart = options.mermaid ? hessianChart(hessian) : hessianTable(hessian);
    if (chart) detail.push('### Input-Hessian spectrum', '', chart, '');
  }
  const links = options.links;
  if (links?.imagesUrl) detail.push(`Reconstructed triggers, masks and the top Hessian eigenvector: [scan images](${encodeURI(links.imagesUrl)}).`, '');
  else if (links?.imagesNote) detail.push(`Scan images: ${escapeHtml(links.imagesNote)}`, '');
  if (options.clean) detail.push(...cleaningSection(options.clean));
  const foot = links?.runUrl
    ? [`<sub>[Full report in the job summary](${encodeURI(links.runUrl)}) · ${escapeHtml(report.tool.name)} ${escapeHtml(report.tool.version)}</sub>`]
    : [`<sub>${escapeHtml(report.tool.name)} ${escapeHtml(report.tool.version)}</sub>`];
  const full = [...head, ...detail, ...foot].join('\n');
  if (full.length <= maxChars) return full;
  const short = [...head, `_Details trimmed to stay within GitHub's ${maxChars}-character limit; see the JSON report._`, '', ...foot].join('\n');
  return short.length <= maxChars ? short : `${short.slice(0, maxChars - 40)}\n\n_(trimmed to the limit)_`;
}

/** The hidden marker that makes a PR comment sticky: found and updated in place on the next run. */
export const commentMarker = (key: string) => `<!-- backdoor-gate:${key.replace(/-->/g, '')} -->`;

export function renderComment(report: GateReport, key: string, options: MarkdownOptions): string {
  const marker = commentMarker(key);
  return `${renderMarkdown(report, options, LIMITS.commentChars - marker.length - 1)}\n${marker}`;
}
