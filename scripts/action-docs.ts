// The README's table of action inputs and outputs, generated from action.yml so the two never
// disagree. `npm run docs` rewrites the block between the markers; test/docs.test.ts fails when
// the README is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const START = '<!-- action-docs:start (npm run docs) -->';
export const END = '<!-- action-docs:end -->';

interface ActionYml {
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string }>;
}

const cell = (text: string) => text.replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function actionTables(actionYml: string): string {
  const action = parse(actionYml) as ActionYml;
  const inputs = Object.entries(action.inputs).map(
    ([name, i]) =>
      `| \`${name}\` | ${i.required ? 'yes' : 'no'} | ${i.default === undefined || i.default === '' ? '' : `\`${i.default}\``} | ${cell(i.description)} |`,
  );
  const outputs = Object.entries(action.outputs).map(([name, o]) => `| \`${name}\` | ${cell(o.description)} |`);
  return [
    START,
    '',
    '| input | required | default | description |',
    '|---|---|---|---|',
    ...inputs,
    '',
    '| output | description |',
    '|---|---|',
    ...outputs,
    '',
    END,
  ].join('\n');
}

/** The README with its action block replaced by the tables generated from action.yml. */
export function withActionTables(readme: string, actionYml: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${START} … ${END} block`);
  return readme.slice(0, a) + actionTables(actionYml) + readme.slice(b + END.length);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readme = readFileSync('README.md', 'utf8');
  writeFileSync('README.md', withActionTables(readme, readFileSync('action.yml', 'utf8')));
  console.log('README.md: action inputs and outputs regenerated from action.yml');
}
