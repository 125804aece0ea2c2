// What a report says, as a short list of findings with stable rule ids: the one source for check
// annotations, SARIF results and log annotations, so the three never disagree.
import { scanTitle } from '../scan/registry.js';
import type { GateReport } from './types.js';

export type FindingLevel = 'error' | 'warning' | 'note';

export interface Rule {
  id: string;
  name: string;
  short: string;
  full: string;
  help: string;
  level: FindingLevel;
  /** SARIF security-severity, "0.0"–"10.0". */
  securitySeverity: string;
}

export const RULES = {
  backdoored: {
    id: 'BG001',
    name: 'backdoored-model',
    short: 'The model carries a backdoor',
    full: 'A trigger-inversion scan reconstructed a small trigger that sends clean inputs of other classes to one target class, beyond the policy threshold for backdoored.',
    help: 'Do not merge or release this checkpoint. Retrain from trusted data, or clean it (`clean: auto` with a small labelled clean set) and ship the cleaned copy after its re-scan passes.',
    level: 'error',
    securitySeverity: '9.0',
  },
  suspicious: {
    id: 'BG002',
    name: 'suspicious-model',
    short: 'The model may carry a backdoor',
    full: 'A trigger-inversion scan found a class whose reconstructed trigger is an outlier beyond the policy threshold for suspicious.',
    help: 'Review the reconstructed trigger images in the job summary; re-run with more probe images (`max-probe-images`) or clean the model.',
    level: 'warning',
    securitySeverity: '6.0',
  },
  unscannable: {
    id: 'BG003',
    name: 'unscannable-model',
    short: 'The model could not be scanned',
    full: 'The model could not be loaded or scanned, or no detector ran, so the gate cannot call it clean (it fails closed).',
    help: 'Read the error in the report: fix the model files, the probe data or the policy, then re-run.',
    level: 'error',
    securitySeverity: '5.0',
  },
  trigger: {
    id: 'BG004',
    name: 'reconstructed-trigger',
    short: 'A scan reconstructed a trigger for one class',
    full: 'One detector pointed at a target class: its reconstructed trigger is much smaller, or far more effective, than the other classes’.',
    help: 'The trigger and mask images are in the scan artifacts; a real backdoor trigger is usually a small patch, a blend or a warp.',
    level: 'warning',
    securitySeverity: '7.0',
  },
} as const satisfies Record<string, Rule>;

export interface Finding {
  rule: Rule;
  level: FindingLevel;
  title: string;
  message: string;
  /** Target class a finding points at, when it points at one (part of its fingerprint). */
  targetClass?: number;
}

/** Findings of one report; a clean verdict has none (which closes earlier SARIF alerts). */
export function findingsOf(report: GateReport): Finding[] {
  const model = report.model.spec;
  const digest = report.model.digest ? ` (${report.model.digest})` : '';
  const why = report.reasons.join('; ');
  switch (report.verdict) {
    case 'clean':
      return [];
    case 'error':
    case 'unassessed':
      return [
        {
          rule: RULES.unscannable,
          level: 'error',
          title: `Backdoor Gate: ${model} could not be assessed`,
          message: `${model}${digest}: ${report.error ?? why}`,
        },
      ];
    case 'suspicious':
    case 'backdoored':
      break;
  }
  const rule = report.verdict === 'backdoored' ? RULES.backdoored : RULES.suspicious;
  const target = report.suspectedTarget ?? undefined;
  const findings: Finding[] = [
    {
      rule,
      level: rule.level,
      title: `Backdoor Gate: ${model} is ${report.verdict}${target === undefined ? '' : ` (target class ${target})`}`,
      message: `${model}${digest} is ${report.verdict}, score ${report.score?.toFixed(3) ?? 'n/a'}: ${why}`,
      targetClass: target,
    },
  ];
  for (const scan of report.scans) {
    const pointed = 'suspectedTarget' in scan ? scan.suspectedTarget : null;
    if (pointed === null) continue;
    const reason =
      report.reasons.find((r) => r.toLowerCase().startsWith(scanTitle(scan.method).toLowerCase())) ?? `${scanTitle(scan.method)} points at class ${pointed}`;
    findings.push({
      rule: RULES.trigger,
      level: report.verdict === 'backdoored' ? 'error' : 'warning',
      title: `${scanTitle(scan.method)}: class ${pointed}`,
      message: `${model}: ${reason}`,
      targetClass: pointed,
    });
  }
  return findings;
}
