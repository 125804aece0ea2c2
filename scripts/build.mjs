// Builds dist/: the action (index.js) and the CLI (cli.js) as ESM bundles with shared chunks,
// plus the tfjs wasm binaries and dist/licenses.txt (the licence of every bundled package, as
// their licences ask). Deterministic: the same sources give the same bytes.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const out = path.resolve(process.argv[2] ?? 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await build({
  metafile: true,
  entryPoints: { index: 'src/index.ts', cli: 'src/cli.ts' },
  outdir: out,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  legalComments: 'none',
  logLevel: 'warning',
  // CommonJS dependencies inside an ESM bundle still call require(); give them one.
  // The wasm backend's emscripten loader also expects __dirname/__filename.
  banner: {
    js: [
      "import { createRequire as __bgCreateRequire } from 'node:module';",
      "import { fileURLToPath as __bgFileURLToPath } from 'node:url';",
      'const require = __bgCreateRequire(import.meta.url);',
      'const __filename = __bgFileURLToPath(import.meta.url);',
      "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
    ].join(' '),
  },
  // Optional at run time only: resolved with createRequire when present, never bundled.
  external: ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
});

const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
// All three builds: plain, SIMD, and threaded SIMD (the `threads` input, src/engine/wasm-threads.ts).
for (const f of readdirSync(wasmDir)
  .filter((f) => f.endsWith('.wasm'))
  .sort())
  copyFileSync(path.join(wasmDir, f), path.join(out, f));

// Third-party notices: each package whose code is in the bundle, with its licence text.
const packages = new Map();
for (const input of [...Object.keys(result.metafile.inputs), path.relative(process.cwd(), path.join(wasmDir, 'x.wasm'))]) {
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (!m) continue;
  const dir = path.resolve(m[1]);
  if (packages.has(dir)) continue;
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  packages.set(dir, {
    name: pkg.name,
    version: pkg.version,
    license: typeof pkg.license === 'string' ? pkg.license : (pkg.license?.type ?? 'see package'),
    text: file ? readFileSync(path.join(dir, file), 'utf8').trim() : undefined,
  });
}
const notices = [...packages.values()]
  .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  .map((p) => `${p.name}@${p.version} (${p.license})\n\n${p.text ?? `No licence file ships with the package; its package.json declares ${p.license}.`}\n`);
writeFileSync(
  path.join(out, 'licenses.txt'),
  `Backdoor Gate's dist/ bundles these packages; their licences follow.\n\n${notices.join(`\n${'-'.repeat(72)}\n\n`)}`,
);
