// dist/ is what the action runs: it must be exactly what `npm run build` makes from src/.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { REPO } from './helpers/run.js';

const listFiles = (dir: string, base = dir): string[] =>
  readdirSync(dir)
    .flatMap((f) => {
      const full = path.join(dir, f);
      return statSync(full).isDirectory() ? listFiles(full, base) : [path.relative(base, full)];
    })
    .sort();

it('dist/ is up to date with the sources (run `npm run build` and commit dist/)', () => {
  const fresh = mkdtempSync(path.join(os.tmpdir(), 'bg-dist-'));
  execFileSync(process.execPath, [path.join(REPO, 'scripts', 'build.mjs'), fresh], { cwd: REPO });
  const committed = path.join(REPO, 'dist');
  expect(listFiles(committed)).toEqual(listFiles(fresh));
  for (const f of listFiles(fresh)) {
    expect(readFileSync(path.join(committed, f)).equals(readFileSync(path.join(fresh, f))), `dist/${f} is stale`).toBe(true);
  }
});
