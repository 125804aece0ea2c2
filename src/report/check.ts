// The Check Run's conclusion, output and annotations for a report. Pure.
import type { CleanReport } from '../clean/report.js';
import { findingsOf, type FindingLevel } from './findings.js';
import { LIMITS, renderMarkdown, verdictBadge, type MarkdownLinks } from './markdown.js';
import { outcomeFor, type GateReport } from './types.js';

/** An in-repo file line that names the model: where annotations and SARIF results are anchored. */
export interface SourceAnchor {
  /** Repository-relative path, forward slashes, no leading slash (GitHub hides those). */
  path: string;
  line: number;
}

export interface CheckAnnotation {
  path: string;
  start_line: number;
  end_line: number;
  annotation_level: 'notice' | 'warning' | 'failure';
  title: string;
  message: string;
  raw_details?: string;
}

export interface CheckRunOutput {
  conclusion: 'success' | 'failure' | 'neutral';
  output: { title: string; summary: string; annotations: CheckAnnotation[] };
}

const ANNOTATION_LEVEL: Record<FindingLevel, CheckAnnotation['annotation_level']> = { error: 'failure', warning: 'warning', note: 'notice' };
const cut = (text: string, max: number) => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/**
 * success when the gate passes, failure when it fails, neutral when a suspicious model is let
 * through by `fail-on: backdoored` or an unscannable one by `on-error: warn`.
 */
export function checkConclusion(report: GateReport, failOn: 'suspicious' | 'backdoored', onError: 'fail' | 'warn'): CheckRunOutput['conclusion'] {
  const outcome = outcomeFor(report.verdict, failOn);
  if (outcome === 'pass') return 'success';
  if (outcome === 'warn' || (outcome === 'could-not-scan' && onError === 'warn')) return 'neutral';
  return 'failure';
}

export interface CheckOptions {
  failOn: 'suspicious' | 'backdoored';
  onError: 'fail' | 'warn';
  links?: MarkdownLinks;
  /** The input failed but its cleaned copy passed the re-scan: the step passes, the check is neutral. */
  cleanedPasses?: boolean;
  clean?: CleanReport;
}

export function checkRunOutput(report: GateReport, anchor: SourceAnchor | undefined, options: CheckOptions): CheckRunOutput {
  // With no repository file to sit on, the findings live in the summary alone.
  const annotations = (anchor ? findingsOf(report) : []).map((f) => ({
    path: anchor!.path,
    start_line: anchor!.line,
    end_line: anchor!.line,
    annotation_level: ANNOTATION_LEVEL[f.level],
    title: cut(f.title, 255),
    message: cut(f.message, 60_000),
    raw_details: cut(JSON.stringify({ rule: f.rule.id, model: report.model.spec, digest: report.model.digest, targetClass: f.targetClass }), 60_000),
  }));
  const score = report.score === null ? '' : ` (score ${report.score.toFixed(3)})`;
  return {
    conclusion: options.cleanedPasses ? 'neutral' : checkConclusion(report, options.failOn, options.onError),
    output: {
      title: cut(`${verdictBadge(report)}${score}`, 255),
      summary: renderMarkdown(report, { mermaid: false, links: options.links, clean: options.clean }, LIMITS.checkSummaryChars),
      annotations,
    },
  };
}

/** The Checks API takes at most 50 annotations per request; later updates append. */
export function annotationBatches(annotations: CheckAnnotation[], size = 50): CheckAnnotation[][] {
  const batches: CheckAnnotation[][] = [];
  for (let i = 0; i < annotations.length; i += size) batches.push(annotations.slice(i, i + size));
  return batches;
}
