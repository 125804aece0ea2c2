// SARIF 2.1.0 for code scanning. Pure. A downloaded model is not a repository file, so results are
// anchored on the in-repo line that names the model, and we supply partialFingerprints ourselves
// (code scanning computes none for such results): rule + model spec + target class, so the
// same finding on the same model keeps one alert across runs.
import { createHash } from 'node:crypto';
import { findingsOf, RULES } from './findings.js';
import type { SourceAnchor } from './check.js';
import type { GateReport } from './types.js';

export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';
/** How an earlier SARIF file of ours is recognised (it may be replaced; other files are not). */
export const SARIF_OWN_MARKER = '"name": "Backdoor Gate"';
const INFORMATION_URI = 'https://github.com/backdoor-gate/backdoor-gate';

const fingerprint = (...parts: (string | number | undefined)[]) => createHash('sha256').update(parts.map((p) => String(p ?? '')).join('\0')).digest('hex').slice(0, 32);

/** A category that names the model, so several models scanned in one job stay separate analyses. */
export function sarifCategory(modelSpec: string): string {
  return `backdoor-gate/${modelSpec.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 100) || 'model'}`;
}

export function renderSarif(report: GateReport, anchor: SourceAnchor): object {
  const rules = Object.values(RULES);
  const results = findingsOf(report).map((f) => ({
    ruleId: f.rule.id,
    ruleIndex: rules.findIndex((r) => r.id === f.rule.id),
    level: f.level,
    message: { text: f.message },
    locations: [{ physicalLocation: { artifactLocation: { uri: anchor.path }, region: { startLine: anchor.line } } }],
    partialFingerprints: { primaryLocationLineHash: fingerprint(f.rule.id, report.model.spec, f.targetClass) },
    properties: { model: report.model.spec, digest: report.model.digest ?? null, score: report.score, targetClass: f.targetClass ?? null },
  }));
  return {
    $schema: SARIF_SCHEMA_URI,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'Backdoor Gate',
            semanticVersion: report.tool.version,
            informationUri: INFORMATION_URI,
            rules: rules.map((r) => ({
              id: r.id,
              name: r.name,
              shortDescription: { text: r.short },
              fullDescription: { text: r.full },
              help: { text: r.help, markdown: r.help },
              defaultConfiguration: { level: r.level },
              properties: { tags: ['security', 'machine-learning', 'backdoor'], precision: 'medium', 'problem.severity': r.level, 'security-severity': r.securitySeverity },
            })),
          },
        },
        automationDetails: { id: `${sarifCategory(report.model.spec)}/` },
        results,
        properties: { verdict: report.verdict, score: report.score, modelDigest: report.model.digest ?? null },
      },
    ],
  };
}
