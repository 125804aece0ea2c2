// A reviewer's acceptance of a model the scans could not judge (policy `accept-unassessed`). It is
// pinned by the report's model digest, so it covers that model alone: a retrained or swapped file
// is judged afresh. Only `unassessed` is ever accepted; a finding or a model that could not be
// scanned keeps its outcome.
import type { AcceptedModel } from '../core/policy.js';
import type { GateReport } from './types.js';

/** Marks a whole scan's `unassessed` report when the policy accepts its model (a shard's partial report decides nothing). */
export function applyAcceptance(report: GateReport, accepted: readonly AcceptedModel[], policySource: string): void {
  if (report.verdict !== 'unassessed' || report.shard || !report.model.digest) return;
  const entry = accepted.find((a) => a.digest === report.model.digest);
  if (!entry) return;
  report.accepted = { digest: entry.digest, ...(entry.note ? { note: entry.note } : {}), policy: policySource };
  report.reasons.push(
    `accepted unassessed by the policy (${policySource}, accept-unassessed ${entry.digest}${entry.note ? `: ${entry.note}` : ''}): it passes with a warning`,
  );
}

/** The on-error rule for this report: a model the policy accepted unassessed passes with a warning, as `on-error: warn` would let it. */
export const onErrorFor = (report: Pick<GateReport, 'accepted'>, onError: 'fail' | 'warn'): 'fail' | 'warn' => (report.accepted ? 'warn' : onError);
