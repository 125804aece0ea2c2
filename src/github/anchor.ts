// Annotations and SARIF results need a file in the repository: a downloaded model is not one.
// We anchor them on the line that names the model: in the policy file, the running workflow or
// the model's own model.json when it is committed.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type { SourceAnchor } from '../report/check.js';

const toRepoPath = (workspace: string, file: string) => path.relative(workspace, path.resolve(workspace, file)).split(path.sep).join('/');
const inside = (rel: string) => rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);

function lineNaming(file: string, needle: string): number | undefined {
  try {
    if (!statSync(file).isFile() || statSync(file).size > 1024 * 1024) return undefined;
    const lines = readFileSync(file, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes(needle));
    return i < 0 ? undefined : i + 1;
  } catch {
    return undefined;
  }
}

/**
 * The first of: a line naming the model in the workflow or policy file; the committed model's
 * model.json; the workflow or policy file itself. Undefined when none of them exists: a result
 * is never anchored to a file the repository does not have.
 */
export function findModelAnchor(workspace: string, modelSpec: string, candidates: (string | undefined)[]): SourceAnchor | undefined {
  const files = candidates
    .filter((c): c is string => Boolean(c))
    .map((c) => toRepoPath(workspace, c))
    .filter(inside);
  for (const rel of files) {
    const line = lineNaming(path.join(workspace, rel), modelSpec);
    if (line) return { path: rel, line };
  }
  const local = toRepoPath(workspace, modelSpec);
  if (inside(local) && existsSync(path.join(workspace, local))) {
    const modelJson = statSync(path.join(workspace, local)).isDirectory() ? `${local}/model.json` : local;
    if (existsSync(path.join(workspace, modelJson))) return { path: modelJson, line: 1 };
  }
  const existing = files.find((rel) => existsSync(path.join(workspace, rel)));
  return existing ? { path: existing, line: 1 } : undefined;
}
