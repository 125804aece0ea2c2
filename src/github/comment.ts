// The sticky PR comment: found by its hidden marker among the comments the token's own user
// wrote, and updated in place, so a PR carries one Backdoor Gate comment per check name however
// often it runs, whoever's token writes it.
import type { GitHubContext } from './context.js';
import type { Octokit } from './octokit.js';

/** The GITHUB_TOKEN's user; GET /user is refused to it ("Resource not accessible by integration"). */
const ACTIONS_BOT = 'github-actions[bot]';

/** The token's login: a personal token's user, else the Actions bot (installation tokens cannot ask). */
async function tokenLogin(octokit: Octokit): Promise<string> {
  try {
    return (await octokit.rest.users.getAuthenticated()).data.login;
  } catch {
    return ACTIONS_BOT;
  }
}

/**
 * Updates our comment in place, or creates it when `create` (a clean run under `on-findings`
 * only updates an existing comment, to say the model is now clean). Returns what happened.
 */
export async function upsertStickyComment(
  octokit: Octokit,
  ctx: GitHubContext,
  marker: string,
  body: string,
  { create = true } = {},
): Promise<{ url?: string; action: 'updated' | 'created' | 'none' }> {
  const where = { owner: ctx.owner!, repo: ctx.repo!, issue_number: ctx.pullNumber! };
  const login = await tokenLogin(octokit);
  for await (const page of octokit.paginate.iterator(octokit.rest.issues.listComments, { ...where, per_page: 100 })) {
    const mine = page.data.find((c) => c.body?.includes(marker) && c.user?.login === login);
    if (mine) {
      const { data } = await octokit.rest.issues.updateComment({ owner: where.owner, repo: where.repo, comment_id: mine.id, body });
      return { url: data.html_url, action: 'updated' };
    }
  }
  if (!create) return { action: 'none' };
  const { data } = await octokit.rest.issues.createComment({ ...where, body });
  return { url: data.html_url, action: 'created' };
}
