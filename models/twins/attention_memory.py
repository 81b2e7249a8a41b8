"""python3 -m models.twins.attention_memory [--variant unclip-l] [--latent 96] [--width 1] [--batch 2] [--out DIR]

What fusing attention saves at real size: exports the twin UNet twice from the same weights, with
attention op by op (`--attention unfused`) and as fused MultiHeadAttention nodes (the default), and
runs one evaluation of each, at `--batch` (2: a guidance pair), in a process of its own on
onnxruntime-node's CPU provider. Prints one JSON object: per form, the process's peak resident
memory, the evaluation's wall time and the graph's size on disk, and the two outputs' largest
difference relative to the op-by-op output's range. docs/real-presets.md records a run.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import torch

from models.export.export_preset import ATTENTION
from models.export.onnx_files import export_graph
from models.export.onnx_runner import run_onnx_node
from models.export.wrappers import UNetWithClassLabels

from .build import build_twins, twin_configs

INPUTS = ["sample", "timestep", "encoder_hidden_states", "class_labels"]
BATCH_AXIS = {0: "batch"}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m models.twins.attention_memory", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="unclip-l", choices=["unclip-l", "unclip-h"])
    p.add_argument("--latent", type=int, default=96)
    p.add_argument("--width", type=int, default=1)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--out", type=Path, help="scratch folder for the two graphs (default: a temporary one, removed after)")
    a = p.parse_args(argv)
    configs = twin_configs(a.variant, a.latent, a.width)
    unet = build_twins(configs, seed=0).unet
    generator = torch.Generator().manual_seed(0)
    feeds = {
        "sample": torch.randn(a.batch, 4, a.latent, a.latent, generator=generator),
        "timestep": torch.tensor([501.0]),
        "encoder_hidden_states": torch.randn(a.batch, 77, configs.unet.cross_attention_dim, generator=generator),
        "class_labels": torch.randn(a.batch, configs.unet.projection_class_embeddings_input_dim, generator=generator),
    }
    trace = tuple(tensor[:1] if tensor.shape[0] == a.batch else tensor for tensor in feeds.values())
    root = a.out or Path(tempfile.mkdtemp(prefix="penumbra-attention-"))
    results, outputs = {}, {}
    try:
        for form in ("unfused", "fused"):
            folder = root / form
            folder.mkdir(parents=True, exist_ok=True)
            ATTENTION[form](unet)
            files = export_graph(UNetWithClassLabels(unet), trace, folder, "unet.onnx", INPUTS, ["out_sample"],
                                 {"sample": BATCH_AXIS, "encoder_hidden_states": BATCH_AXIS, "class_labels": BATCH_AXIS, "out_sample": BATCH_AXIS})
            produced, stats = run_onnx_node(folder / "unet.onnx", feeds, timeout=3600)
            outputs[form] = produced["out_sample"]
            results[form] = {"peakRssMiB": round(stats["peakRssBytes"] / 2**20), "evaluationSeconds": round(stats["runMs"] / 1000, 2),
                             "graphMiB": round(sum((folder / name).stat().st_size for name in files) / 2**20)}
            if a.out is None:
                shutil.rmtree(folder)
    finally:
        if a.out is None:
            shutil.rmtree(root, ignore_errors=True)
    reference = outputs["unfused"]
    print(json.dumps({
        "what": f"twin {a.variant} UNet, latent {a.latent}×{a.latent}, widths ÷ {a.width}, batch {a.batch}, onnxruntime-node CPU, float32",
        "forms": results,
        "relativeDifference": float((outputs["fused"] - reference).abs().max() / reference.abs().max()),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
