// The pure renderers: job summary, PR comment, check run output and SARIF from real scan reports
// (test/fixtures/reports, written by `backdoor-gate scan` on the example models). Golden files in
// test/golden double as examples of what reviewers see; `UPDATE_GOLDEN=1 npx vitest run test/report`
// rewrites them after an intended change.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { annotationBatches, checkConclusion, checkRunOutput, type CheckAnnotation } from '../../src/report/check.js';
import { onErrorFor } from '../../src/report/acceptance.js';
import { findingsOf } from '../../src/report/findings.js';
import { commentMarker, LIMITS, renderComment, renderMarkdown } from '../../src/report/markdown.js';
import { renderSarif } from '../../src/report/sarif.js';
import type { GateReport } from '../../src/report/types.js';
import { cleaningReport } from '../helpers/clean-report.js';
import { REPO } from '../helpers/run.js';
import { sarifValidator } from '../helpers/sarif.js';

const fixture = (name: string): GateReport => JSON.parse(readFileSync(path.join(REPO, 'test/fixtures/reports', `${name}.json`), 'utf8'));
const ANCHOR = { path: '.github/workflows/model-gate.yml', line: 9 };
const LINKS = { imagesUrl: 'https://github.com/acme/models/actions/runs/4242/artifacts/77', runUrl: 'https://github.com/acme/models/actions/runs/4242' };

function golden(name: string, actual: string): void {
  const file = path.join(REPO, 'test/golden', name);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, actual);
  expect(existsSync(file), `${file} is missing: run UPDATE_GOLDEN=1 npx vitest run test/report`).toBe(true);
  expect(actual).toBe(readFileSync(file, 'utf8'));
}

describe('report renderers', () => {
  const backdoored = fixture('backdoored');
  const clean = fixture('clean');
  const validateSarif = sarifValidator();

  it('job summary, comment and check run match their golden files', () => {
    golden('summary-backdoored.md', renderMarkdown(backdoored, { mermaid: true, links: { ...LINKS, reportPath: 'backdoor-gate-report.json' } }));
    golden('comment-backdoored.md', renderComment(backdoored, 'Backdoor Gate', { mermaid: true, links: LINKS }));
    golden('summary-clean.md', renderMarkdown(clean, { mermaid: true, links: LINKS }));
    golden(
      'check-backdoored.json',
      `${JSON.stringify(checkRunOutput(backdoored, ANCHOR, { failOn: 'suspicious', onError: 'fail', links: LINKS }), null, 2)}\n`,
    );
    golden('backdoored.sarif', `${JSON.stringify(renderSarif(backdoored, ANCHOR), null, 2)}\n`);
  });

  it('the summary shows the verdict, the suspect class, every scan and the spectrum as a Mermaid chart; the check run gets a table instead', () => {
    const md = renderMarkdown(backdoored, { mermaid: true, links: LINKS });
    expect(md).toContain('<b>⛔ backdoored</b>');
    expect(md).toContain('| suspected target class | 6 |');
    expect(md).toMatch(/\| mask inversion \| class 6 \| mask-inversion statistic \d+\.\d\d \(suspicious > [\d.]+, backdoored > [\d.]+\) \|/);
    // The statistic that decided, per class, with the threshold drawn as a line.
    expect(md).toMatch(
      /```mermaid\nxychart-beta\n {2}title "mask-inversion statistic per class \(line: suspicious threshold [\d.]+\)"\n {2}x-axis \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\]\n {2}y-axis "statistic"\n {2}bar \[[^\]]+\]\n {2}line \[/,
    );
    expect(md).toMatch(/```mermaid\nxychart-beta\n[^`]*bar \[0\.3636, 0\.3009/);
    const check = checkRunOutput(backdoored, ANCHOR, { failOn: 'suspicious', onError: 'fail' });
    expect(check.output.summary).not.toContain('mermaid');
    expect(check.output.summary).toMatch(/\| λ \| 0\.3636 \| 0\.3009 \|/);
    expect(check.conclusion).toBe('failure');
    expect(check.output.annotations.map((a) => [a.annotation_level, a.path, a.start_line])).toEqual([
      ['failure', ANCHOR.path, 9],
      ['failure', ANCHOR.path, 9],
    ]);
  });

  it('the cleaning section says whether the cleaned model passes: a clean re-scan that cost more accuracy than the policy allows does not', () => {
    const cleaning = (correctAfter: number) => cleaningReport(117, correctAfter, 120, 2);
    // 117 → 112 of 120 held-out images: 4.2 points, over the 2 allowed.
    const over = renderMarkdown(backdoored, { mermaid: false, clean: cleaning(112) });
    expect(over).toContain(
      'cleaned model <code>cleaned</code> (<code>sha256:1</code>): **does not pass**: it loses 4.2 points of held-out accuracy, more than the policy&#39;s cleaning.max-accuracy-drop (2)',
    );
    const line = /Accuracy cost: 4\.2 points on 120 held-out images \(the policy allows 2\.0\); 95 % interval (-?[\d.]+) to ([\d.]+) points\./.exec(over);
    expect(line).not.toBeNull();
    expect(Number(line![1])).toBeLessThan(4.2);
    expect(Number(line![2])).toBeGreaterThan(4.2);
    // 117 → 116: 0.8 points.
    const within = renderMarkdown(backdoored, { mermaid: false, clean: cleaning(116) });
    expect(within).toContain('cleaned model <code>cleaned</code> (<code>sha256:1</code>): passes');
    expect(within).toContain('Accuracy cost: 0.8 points on 120 held-out images (the policy allows 2.0); 95 % interval');
    // Where the time went, when the cleaner timed its steps.
    expect(within).not.toContain('Took ');
    const timed = {
      ...cleaning(116),
      timings: [
        { phase: 'scan', seconds: 14.6 },
        { phase: 'cleaning and re-scan', seconds: 250.2 },
      ],
      totalSeconds: 265.1,
    };
    expect(renderMarkdown(backdoored, { mermaid: false, clean: timed })).toContain('Took 265 s: scan 15 s, cleaning and re-scan 250 s.');
    // What the re-scan read: the held-out fifth alone, or with probes held back from cleaning.
    expect(within).not.toContain('Re-scanned on');
    expect(renderMarkdown(backdoored, { mermaid: false, clean: { ...cleaning(116), rescannedImages: 120 } })).toContain(
      'Re-scanned on 120 images the cleaning never read: 120 held-out labelled ones.',
    );
    const heldBack = { ...cleaning(116), data: { source: 'clean-data', cleanWith: 480 + 256, heldOut: 120, heldBackProbes: 256 }, rescannedImages: 376 };
    expect(renderMarkdown(backdoored, { mermaid: false, clean: heldBack })).toContain(
      'Re-scanned on 376 images the cleaning never read: 256 unlabelled images held back from the probes and 120 held-out labelled ones.',
    );
    // What the cleaning did, step by step and in order, escaped like every other text from the model's side.
    const audited = { ...cleaning(116), steps: ['round 1: pruned 4 of 68 neurons; the re-scan: clean', 'trial fine-tune of a copy: 3.2 → 3.2 % <b>'] };
    expect(renderMarkdown(backdoored, { mermaid: false, clean: audited })).toContain(
      'What was done:\n\n1. round 1: pruned 4 of 68 neurons; the re-scan: clean\n2. trial fine-tune of a copy: 3.2 → 3.2 % &#60;b&#62;\n',
    );
    expect(renderMarkdown(backdoored, { mermaid: false, clean: cleaning(116) })).not.toContain('What was done');
  });

  it('a clean report has no findings: a passing check, no annotations, an empty SARIF run (which closes old alerts)', () => {
    expect(findingsOf(clean)).toEqual([]);
    const check = checkRunOutput(clean, ANCHOR, { failOn: 'suspicious', onError: 'fail' });
    expect(check.conclusion).toBe('success');
    expect(check.output.annotations).toEqual([]);
    const sarif = renderSarif(clean, ANCHOR) as { runs: { results: unknown[] }[] };
    expect(validateSarif(sarif)).toBe(true);
    expect(sarif.runs[0].results).toEqual([]);
  });

  it("a data-free report (no data) shows the maximum-margin scan, its p-value statistic and each class's margin", () => {
    // Written by `backdoor-gate scan models/cnn-blended-t4` in examples/ with no --data.
    const dataFree = fixture('data-free-backdoored');
    const md = renderMarkdown(dataFree, { mermaid: true, links: LINKS });
    expect(md).toMatch(/\| maximum margin \(data-free\) \| class 4 \| −log₁₀ p \d+\.\d\d \(suspicious > [\d.]+, backdoored > [\d.]+\) \|/);
    expect(md).toMatch(
      /<summary>maximum margin \(data-free\): per class<\/summary>\n\n\| class \| largest margin \| {2}\|\n\|---\|---\|---\|\n\| 0 \| \d+\.\d\d \|/,
    );
    // Its per-class values are margins, not the statistic: no chart against the threshold.
    expect(md).not.toContain('xychart-beta');
    const findings = findingsOf(dataFree);
    expect(findings.map((f) => [f.rule.id, f.targetClass])).toEqual([['BG001', 4]]);
    expect(validateSarif(renderSarif(dataFree, ANCHOR))).toBe(true);
  });

  it('a 100-class report marks the classes only screened and points at the target among those scanned in full', () => {
    // Written by `npm run bench:classes` (signs100-cnn-badnets-t37 with probe data; paths shortened).
    const many = fixture('many-classes-badnets');
    const md = renderMarkdown(many, { mermaid: true, links: LINKS });
    const mask = many.scans.find((s) => s.method === 'mask-inversion')!;
    const screened = mask.perClass.filter((c) => 'screened' in c && c.screened).length;
    expect(screened).toBeGreaterThan(80);
    // One "screened only" cell per screened class in each of the two per-class tables.
    expect(md.match(/screened only/g)?.length).toBe(2 * screened);
    expect(md).toMatch(/\| 37 \| [\d.]+ \| [\d.]+ % \| [\d.]+ % \| [\d.]+ ⬅ \|/);
    expect(findingsOf(many).map((f) => f.targetClass)).toContain(37);
    expect(validateSarif(renderSarif(many, ANCHOR))).toBe(true);
  });

  it('SARIF is valid 2.1.0 for every verdict, with fingerprints that depend on the finding, not the run', () => {
    const error: GateReport = {
      ...clean,
      verdict: 'error',
      score: null,
      error: 'models/x: missing weight shard',
      reasons: ['could not scan: models/x: missing weight shard'],
      scans: [],
    };
    for (const report of [backdoored, clean, error, { ...backdoored, verdict: 'suspicious' as const }]) {
      const sarif = renderSarif(report, ANCHOR);
      expect(validateSarif(sarif), JSON.stringify(validateSarif.errors)).toBe(true);
    }
    const a = renderSarif(backdoored, ANCHOR) as { runs: { results: { partialFingerprints: object; ruleId: string }[] }[] };
    const b = renderSarif({ ...backdoored, score: 0.5, timings: { totalSeconds: 1 } }, ANCHOR) as typeof a;
    expect(b.runs[0].results.map((r) => r.partialFingerprints)).toEqual(a.runs[0].results.map((r) => r.partialFingerprints));
    expect(a.runs[0].results.map((r) => r.ruleId)).toEqual(['BG001', 'BG004']);
    const other = renderSarif({ ...backdoored, model: { ...backdoored.model, spec: 'models/other' } }, ANCHOR) as typeof a;
    expect(other.runs[0].results[0].partialFingerprints).not.toEqual(a.runs[0].results[0].partialFingerprints);
    expect((renderSarif(error, ANCHOR) as typeof a).runs[0].results.map((r) => r.ruleId)).toEqual(['BG003']);
  });

  it('escapes model-derived text: a hostile model name or reason cannot inject HTML or break a table', () => {
    const hostile: GateReport = {
      ...backdoored,
      model: { ...backdoored.model, spec: '<img src=x onerror=alert(1)>|`x`' },
      reasons: ['class <script>alert(1)</script> | broken\nrow'],
    };
    const md = renderMarkdown(hostile, { mermaid: true });
    expect(md).not.toMatch(/<img|<script/);
    expect(md).toContain('&#60;img src=x onerror=alert(1)&#62;&#124;&#96;x&#96;');
    expect(md).toContain('- class &#60;script&#62;alert(1)&#60;/script&#62; &#124; broken row');
    const sarif = JSON.stringify(renderSarif(hostile, ANCHOR));
    expect(JSON.parse(sarif).runs[0].results[0].message.text).toContain('<img src=x');
  });

  it('stays within GitHub limits by dropping detail, never the verdict; the comment keeps its marker', () => {
    const huge: GateReport = { ...backdoored, reasons: Array.from({ length: 3000 }, (_, i) => `reason ${i} ${'x'.repeat(30)}`) };
    const comment = renderComment(huge, 'Backdoor Gate', { mermaid: true });
    expect(comment.length).toBeLessThanOrEqual(LIMITS.commentChars);
    expect(comment).toContain('⛔ backdoored');
    expect(comment.endsWith(commentMarker('Backdoor Gate'))).toBe(true);
    const check = checkRunOutput(huge, ANCHOR, { failOn: 'suspicious', onError: 'fail' });
    expect(check.output.summary.length).toBeLessThanOrEqual(LIMITS.checkSummaryChars);
    const trimmed = renderMarkdown(
      { ...backdoored, scans: [...backdoored.scans, ...Array.from({ length: 400 }, () => backdoored.scans[1])] },
      { mermaid: true },
      20_000,
    );
    expect(trimmed.length).toBeLessThanOrEqual(20_000);
    expect(trimmed).toContain('Details trimmed');
    expect(trimmed).toContain('⛔ backdoored');
  });

  it('a model the policy accepted unassessed is neutral, not failed, and every rendering says who accepted it', () => {
    const accepted = {
      ...clean,
      verdict: 'unassessed' as const,
      accepted: { digest: clean.model.digest!, note: 'reviewed in <PR 12>', policy: '.github/backdoor-gate.yml' },
    };
    expect(checkConclusion(accepted, 'suspicious', onErrorFor(accepted, 'fail'))).toBe('neutral');
    expect(checkConclusion({ ...accepted, accepted: undefined }, 'suspicious', onErrorFor({}, 'fail'))).toBe('failure');
    const summary = renderMarkdown(accepted, { mermaid: false });
    expect(summary).toContain('❔ unassessed (accepted by the policy)');
    expect(summary).toContain('<code>.github/backdoor-gate.yml</code> (accept-unassessed): reviewed in &#60;PR 12&#62;');
    expect(checkRunOutput(accepted, ANCHOR, { failOn: 'suspicious', onError: onErrorFor(accepted, 'fail') }).output.title).toMatch(
      /^❔ unassessed \(accepted by the policy\)/,
    );
  });

  it('check conclusions follow fail-on and on-error; annotations go 50 per request', () => {
    expect(checkConclusion({ ...backdoored, verdict: 'suspicious' }, 'backdoored', 'fail')).toBe('neutral');
    expect(checkConclusion({ ...backdoored, verdict: 'suspicious' }, 'suspicious', 'fail')).toBe('failure');
    expect(checkConclusion({ ...backdoored, verdict: 'error' }, 'suspicious', 'warn')).toBe('neutral');
    expect(checkConclusion({ ...backdoored, verdict: 'unassessed' }, 'suspicious', 'fail')).toBe('failure');
    const many = Array.from({ length: 123 }, (_, i) => ({ path: 'a', start_line: i + 1 }) as CheckAnnotation);
    expect(annotationBatches(many).map((b) => b.length)).toEqual([50, 50, 23]);
    expect(annotationBatches([])).toEqual([]);
  });
});
