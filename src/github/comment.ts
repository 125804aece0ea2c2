// The sticky PR comment: found by its hidden marker among the token owner's comments and updated
// in place, so a PR carries one Backdoor Gate comment per check name however often it runs.
import type { GitHubContext } from './context.js';
import type { Octokit } from './octokit.js';

export async function upsertStickyComment(octokit: Octokit, ctx: GitHubContext, marker: string, body: string): Promise<{ url: string; updated: boolean }> {
  const where = { owner: ctx.owner!, repo: ctx.repo!, issue_number: ctx.pullNumber! };
  for await (const page of octokit.paginate.iterator(octokit.rest.issues.listComments, { ...where, per_page: 100 })) {
    const mine = page.data.find((c) => c.body?.includes(marker) && c.user?.type === 'Bot');
    if (mine) {
      const { data } = await octokit.rest.issues.updateComment({ owner: where.owner, repo: where.repo, comment_id: mine.id, body });
      return { url: data.html_url, updated: true };
    }
  }
  const { data } = await octokit.rest.issues.createComment({ ...where, body });
  return { url: data.html_url, updated: false };
}
