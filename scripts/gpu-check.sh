#!/usr/bin/env bash
# scripts/gpu-check.sh [--engine-preset DIR] [-- gpu_check flags]
#
# One short check for a CUDA machine that has PyTorch but not necessarily this repository's Node
# toolchain (docs/benchmarks.md, "GPU check"):
#  1. the anchor: the twin unclip-l UNet at 96×96 latents in PyTorch eager float16 ($PYTHON, default python3)
#     (python3 -m models.twins.gpu_check), one JSON line;
#  2. the engine: a 5×4 grid at 20 steps through onnxruntime-node (npm run bench, engine side only)
#     on each provider this machine offers (cuda, then webgpu), when Node is on the PATH or carried
#     in .node/bin/node, node_modules is installed, and --engine-preset names a preset at real size
#     (for instance one written by npm run preset:twin). Otherwise it says which of those is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
engine_preset=""
if [[ "${1:-}" == "--engine-preset" ]]; then engine_preset="${2:?--engine-preset needs a folder}"; shift 2; fi
[[ "${1:-}" == "--" ]] && shift

echo "== anchor: PyTorch eager fp16, twin UNet"
"${PYTHON:-python3}" -m models.twins.gpu_check "$@" || echo "anchor: failed (exit $?)"

echo "== engine: onnxruntime-node, 5x4 grid, 20 steps"
node_bin="$(command -v node || true)"
[[ -z "$node_bin" && -x .node/bin/node ]] && node_bin="$PWD/.node/bin/node"
if [[ -z "$node_bin" ]]; then
  echo "engine: skipped: no node on the PATH or in .node/bin (carry Node to run it)"
elif [[ ! -x node_modules/.bin/tsx ]]; then
  echo "engine: skipped: node_modules is not installed (npm ci, with ONNXRUNTIME_NODE_INSTALL=cuda12 for the CUDA provider)"
elif [[ -z "$engine_preset" ]]; then
  echo "engine: skipped: no --engine-preset (a preset at real size, e.g. npm run preset:twin -- --variant unclip-l --out DIR)"
else
  for provider in cuda webgpu; do
    echo "-- provider $provider"
    PENUMBRA_PROVIDERS="$provider" "$node_bin" node_modules/.bin/tsx scripts/bench.ts --preset "$engine_preset" --no-reference --cols 4 --steps 20 --repeats 2 \
      || echo "engine on $provider: failed (exit $?)"
  done
fi
