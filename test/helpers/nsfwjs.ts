// The nsfwjs package's real pretrained models, extracted to plain tfjs directories on demand.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export const NSFWJS_MODELS = ['mobilenet_v2', 'mobilenet_v2_mid', 'inception_v3'] as const;
export type NsfwjsModel = (typeof NSFWJS_MODELS)[number];
export const NSFWJS_CLASSES = ['Drawing', 'Hentai', 'Neutral', 'Porn', 'Sexy'];

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '.cache', 'models', 'nsfwjs');

const isPackageRoot = (dir: string, name: string) => {
  try {
    return (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string }).name === name;
  } catch {
    if (path.dirname(dir) === dir) throw new Error(`package ${name} not found`);
    return false;
  }
};

export function extractNsfwjsModels(): Record<NsfwjsModel, string> {
  // nsfwjs' "exports" hides package.json: walk up from its entry point instead.
  let pkg = path.dirname(require.resolve('nsfwjs'));
  while (!isPackageRoot(pkg, 'nsfwjs')) pkg = path.dirname(pkg);
  const pkgDir = path.join(pkg, 'dist', 'models');
  const out = {} as Record<NsfwjsModel, string>;
  for (const name of NSFWJS_MODELS) {
    const dir = path.join(root, name);
    out[name] = dir;
    if (existsSync(path.join(dir, 'model.json'))) continue;
    mkdirSync(dir, { recursive: true });
    const src = path.join(pkgDir, name);
    const modelJson = require(path.join(src, 'model.min.js')) as { weightsManifest: Array<{ paths: string[] }> };
    for (const shard of readdirSync(src).filter((f) => f.startsWith('group') && f.endsWith('.min.js'))) {
      const base64 = require(path.join(src, shard)) as string;
      writeFileSync(path.join(dir, shard.replace(/\.min\.js$/, '')), Buffer.from(base64, 'base64'));
    }
    writeFileSync(path.join(dir, 'gate.json'), `${JSON.stringify({ input: { range: [0, 1] }, classes: NSFWJS_CLASSES }, null, 2)}\n`);
    // model.json last: its presence marks a complete extraction.
    writeFileSync(path.join(dir, 'model.json'), JSON.stringify(modelJson));
  }
  return out;
}
