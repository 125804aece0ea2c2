// SARIF 2.1.0 for code scanning. Pure. A downloaded model is not a repository file, so results are
// anchored on the in-repo line that names the model, and we supply partialFingerprints ourselves
// (code scanning computes none for such results): rule + model name + target class, so the
// same finding on the same model keeps one alert across runs and releases.
import { createHash } from 'node:crypto';
import { findingsOf, RULES } from './findings.js';
import type { SourceAnchor } from './check.js';
import type { GateReport } from './types.js';

export const SARIF_SCHEMA_URI = 'https://json.schemastore.org/sarif-2.1.0.json';
/** How an earlier SARIF file of ours is recognised (it may be replaced; other files are not). */
export const SARIF_OWN_MARKER = '"name": "Backdoor Gate"';
const INFORMATION_URI = 'https://github.com/backdoor-gate/backdoor-gate';

const fingerprint = (...parts: (string | number | undefined)[]) =>
  createHash('sha256')
    .update(parts.map((p) => String(p ?? '')).join('\0'))
    .digest('hex')
    .slice(0, 32);

/**
 * The model's stable name: what stays the same across releases, runs and checkouts of one model
 * (no release tag, run id, URL host or absolute path), e.g. `release:v1.2/classifier.tar.gz` →
 * `classifier`, `artifact:model@123` → `model`, `models/classifier/model.json` →
 * `models/classifier`, `/tmp/x/classifier.onnx` → `classifier`.
 */
export function modelName(modelSpec: string): string {
  let spec = modelSpec.trim();
  const release = /^release:[^/]+\/(.+)$/.exec(spec);
  const artifact = /^artifact:([^@]+)/.exec(spec);
  if (release) spec = release[1];
  else if (artifact) spec = artifact[1];
  else if (/^https?:\/\//i.test(spec)) spec = new URL(spec).pathname.split('/').filter(Boolean).slice(-2).join('/');
  else if (spec.startsWith('/') || /^[A-Za-z]:[\\/]/.test(spec)) spec = spec.split(/[\\/]/).filter(Boolean).slice(-2).join('/');
  spec = spec.replace(/\/?model\.json$/i, '').replace(/\.(tar\.gz|tgz|zip|tar|onnx)$/i, '');
  if (release || artifact || /^https?:/i.test(modelSpec) || modelSpec.startsWith('/')) spec = spec.split('/').filter(Boolean).pop() ?? spec;
  return (
    spec
      .replace(/[^A-Za-z0-9._/-]+/g, '-')
      .replace(/^[-./]+|[-./]+$/g, '')
      .slice(0, 100) || 'model'
  );
}

/** The default SARIF category: one analysis per model, the same across releases and runs. */
export function sarifCategory(modelSpec: string): string {
  return `backdoor-gate/${modelName(modelSpec)}`;
}

export function renderSarif(report: GateReport, anchor: SourceAnchor | undefined, category = sarifCategory(report.model.spec)): object {
  const name = modelName(report.model.spec);
  const rules = Object.values(RULES);
  const results = findingsOf(report).map((f) => ({
    ruleId: f.rule.id,
    ruleIndex: rules.findIndex((r) => r.id === f.rule.id),
    level: f.level,
    message: { text: f.message },
    ...(anchor ? { locations: [{ physicalLocation: { artifactLocation: { uri: anchor.path }, region: { startLine: anchor.line } } }] } : {}),
    partialFingerprints: { primaryLocationLineHash: fingerprint(f.rule.id, name, f.targetClass) },
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
              properties: {
                tags: ['security', 'machine-learning', 'backdoor'],
                precision: 'medium',
                'problem.severity': r.level,
                'security-severity': r.securitySeverity,
              },
            })),
          },
        },
        automationDetails: { id: `${category.replace(/\/+$/, '')}/` },
        results,
        properties: { verdict: report.verdict, score: report.score, modelDigest: report.model.digest ?? null },
      },
    ],
  };
}
