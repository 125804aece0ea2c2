#!/usr/bin/env bash
# Packs what bench/gpu-run.sh needs on a bare GPU machine (no Node, no npm registry) into .gpu/,
# which .git/info/exclude keeps out of the repository: this machine's Node and Dawn for Linux x64
# (xz), bench/webgpu-check.ts bundled, nsfwjs' MobileNetV2 and 1,000 MNIST test digits.
# Run after `npm ci && npm run build && npm run extract-models`; about 35 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .gpu && mkdir -p .gpu/webgpu/dist/linux-x64 .gpu/check .gpu/probes
xz -T0 -6 -c "$(command -v node)" > .gpu/node.xz
dawn=node_modules/webgpu
cp -r "$dawn/index.js" "$dawn/package.json" "$dawn/LICENSE.md" "$dawn/node_modules" .gpu/webgpu/
xz -T0 -6 -c "$dawn/dist/linux-x64/dawn.node" > .gpu/webgpu/dist/linux-x64/dawn.node.xz
cp -r .cache/models/nsfwjs/mobilenet_v2 .gpu/
npx esbuild bench/webgpu-check.ts --bundle --platform=node --format=esm --target=node20 --minify \
  --outfile=.gpu/check/webgpu-check.mjs --log-level=warning \
  --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu --external:webgpu \
  --banner:js="import { createRequire as __bgCreateRequire } from 'node:module'; const require = __bgCreateRequire(import.meta.url);"
npx tsx -e "
import { loadProbeImages } from './src/data/sources.ts';
import { writeNpy } from './src/data/npy.ts';
const set = loadProbeImages('mnist:test', { shape: [28, 28, 1], maxImages: 1000, seed: 0 });
writeNpy('.gpu/probes/x.npy', set.x, [set.count, 28, 28, 1]);
"
du -sh .gpu
