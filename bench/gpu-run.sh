#!/usr/bin/env bash
# Runs bench/webgpu-check.ts on a bare GPU machine from what bench/gpu-pack.sh put in .gpu/ and the
# Vulkan/EGL loaders in .gl/ (Debian packages, unpacked over /: only on that machine). Writes
# webgpu-check.json, the 224-px scans' reports and log.txt into $OUT.
#   bash bench/gpu-run.sh [seconds for the check, default 480]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/webgpu-check}
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
if [ -z "${BG_NO_LOADERS:-}" ]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
[ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | head -3
unxz() { python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; }
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ -n "${BG_CARRIED_NODE:-}" ] || [ "$major" -lt 20 ]; then
  mkdir -p /tmp/bg-node && unxz .gpu/node.xz /tmp/bg-node/node && chmod +x /tmp/bg-node/node
  export PATH=/tmp/bg-node:$PATH
fi
echo "node $(node -v) at $(command -v node)"
mkdir -p node_modules .cache/models/nsfwjs
rm -rf node_modules/webgpu && cp -r .gpu/webgpu node_modules/webgpu
unxz node_modules/webgpu/dist/linux-x64/dawn.node.xz node_modules/webgpu/dist/linux-x64/dawn.node
rm -rf .cache/models/nsfwjs/mobilenet_v2 && cp -r .gpu/mobilenet_v2 .cache/models/nsfwjs/
node .gpu/check/webgpu-check.mjs --out "$OUT" --probes .gpu/probes --seconds "${1:-480}"
echo "webgpu-check exit $?"
