// The Check Run on the PR head commit: created in progress, then completed with its output;
// annotations go 50 per request (the API's limit; later updates append).
import { annotationBatches, type CheckRunOutput } from '../report/check.js';
import type { GitHubContext } from './context.js';
import type { Octokit } from './octokit.js';

export interface CheckRunRef {
  id: number;
  url: string;
}

export async function createCheckRun(octokit: Octokit, ctx: GitHubContext, name: string): Promise<CheckRunRef> {
  const { data } = await octokit.rest.checks.create({
    owner: ctx.owner!,
    repo: ctx.repo!,
    name,
    head_sha: ctx.headSha!,
    status: 'in_progress',
    started_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    output: { title: 'Scanning the model', summary: 'Backdoor Gate is scanning the model.' },
  });
  return { id: data.id, url: data.html_url ?? '' };
}

export async function completeCheckRun(octokit: Octokit, ctx: GitHubContext, run: CheckRunRef, result: CheckRunOutput): Promise<void> {
  const batches = annotationBatches(result.output.annotations);
  const base = { owner: ctx.owner!, repo: ctx.repo!, check_run_id: run.id };
  const { title, summary } = result.output;
  for (const annotations of batches.slice(0, -1)) await octokit.rest.checks.update({ ...base, output: { title, summary, annotations } });
  await octokit.rest.checks.update({
    ...base,
    status: 'completed',
    conclusion: result.conclusion,
    completed_at: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    output: { title, summary, annotations: batches.at(-1) ?? [] },
  });
}
