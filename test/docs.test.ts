// The README's input/output tables are generated from action.yml (npm run docs); stale = failure.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { actionTables, withActionTables } from '../scripts/action-docs.js';

describe('README action tables', () => {
  it('match action.yml (run npm run docs after changing an input or output)', () => {
    const readme = readFileSync('README.md', 'utf8');
    const actionYml = readFileSync('action.yml', 'utf8');
    expect(withActionTables(readme, actionYml)).toBe(readme);
    // Every input and output of action.yml is in the table.
    const tables = actionTables(actionYml);
    for (const name of ['model', 'data', 'policy', 'clean', 'clean-data', 'verdict', 'cleaned-model-path']) expect(tables).toContain(`| \`${name}\` |`);
  });
});
