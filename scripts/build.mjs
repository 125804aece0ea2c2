// Builds dist/: the action (index.js) and the CLI (cli.js) as ESM bundles with shared chunks,
// plus the tfjs wasm binaries. Deterministic: the same sources give the same bytes.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
const out = path.resolve(process.argv[2] ?? 'dist');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
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
for (const f of readdirSync(wasmDir).filter((f) => f.endsWith('.wasm') && !f.includes('threaded')).sort()) copyFileSync(path.join(wasmDir, f), path.join(out, f));
