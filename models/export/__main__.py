"""python3 -m models.export --variant unclip-l|unclip-h --precision fp32|fp16 [--out DIR] [--adapter-from DIR]

Exports a Stable unCLIP checkpoint into a Penumbra preset folder (docs/real-presets.md). The folder
has everything but the ProbVLM adapter; add it with models/training/train_adapter.py --preset DIR,
or copy it from a complete preset of the same variant with --adapter-from.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from .export_preset import REPO, ExportError, export_preset
from .load import MissingDependencies, load_sources
from .onnx_files import PROTOBUF_LIMIT_BYTES
from .precision import PRECISIONS
from .variants import VARIANTS


def default_out(variant: str, precision: str) -> Path:
    return REPO / "models" / (variant if precision == "fp32" else f"{variant}-{precision}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m models.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    p.add_argument("--precision", choices=sorted(PRECISIONS), default="fp32", help="fp32: CPU set; fp16: CUDA set (UNet and VAE weights fp16, attention fp32); fp16 needs a CUDA GPU to export")
    p.add_argument("--out", type=Path, help="preset folder (default: models/<variant> or models/<variant>-fp16)")
    p.add_argument("--revision", help="revision of the unCLIP checkpoint (default: main; the commit used is recorded)")
    p.add_argument("--clip-text-revision", help="revision of the CLIP text tower's repository")
    p.add_argument("--adapter-from", type=Path, help="a complete preset of the same variant whose adapter, bridge and uncertainty to copy")
    p.add_argument("--attention", choices=["fused", "unfused"], default="fused",
                   help="fused: onnxruntime's MultiHeadAttention node (default); unfused: op by op with the softmax in float32, for runtimes without onnxruntime's contrib ops")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = p.parse_args(argv)
    precision = PRECISIONS[a.precision]
    if precision.device == "cuda" and not torch.cuda.is_available():
        p.error("--precision fp16 traces the model in float16, which needs a CUDA GPU (torch's CPU kernels lack float16); export fp32 here instead")
    if a.threads:
        torch.set_num_threads(a.threads)
    out = a.out or default_out(a.variant, a.precision)
    variant = VARIANTS[a.variant]
    try:
        sources = load_sources(variant, a.revision, a.clip_text_revision, log=lambda m: print(m, file=sys.stderr))
        summary = export_preset(sources, variant, precision, out, adapter_from=a.adapter_from, external_data_threshold=PROTOBUF_LIMIT_BYTES,
                                log=lambda m: print(m, file=sys.stderr), attention=a.attention)
    except (MissingDependencies, ExportError) as error:
        print(f"models.export: {error}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    if not summary["complete"]:
        print(f"\nnext: embed pairs with `npm run embed-pairs -- --preset {out} …`, then "
              f"`/usr/bin/python3 -m models.training.train_adapter --pairs PAIRS.npz --preset {out}` (docs/real-presets.md)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
