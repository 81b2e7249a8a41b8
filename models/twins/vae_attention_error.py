"""How far the twin VAE decoder's ONNX graphs are from the same decode in float64, with the fused and
the op-by-op attention: does the fused node account for the full-size parity gap?

    /usr/bin/python3 -m models.twins.vae_attention_error [--variant unclip-l] [--latent 96] [--width 1]

The twin's decoder (random weights from seed 0) decodes one seeded latent in torch float32, in
torch float64 and through two graphs the exporter writes from it, one per attention form
(models/export/export_preset.py's ATTENTION), run by onnxruntime on the CPU. Every difference is
max |x − float64| / max |float64|, parity's measure (models/export/parity.py). Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

from models.export.export_preset import ATTENTION
from models.export.onnx_files import export_graph
from models.export.onnx_runner import run_onnx
from models.export.wrappers import VaeDecoder
from models.twins.sources import twin_sources

SEED = 0


def relative(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value.double() - reference).abs().max() / reference.abs().max())


def measure(variant: str, latent: int, width: int) -> dict:
    vae = twin_sources(variant, latent, seed=SEED, width=width).vae.eval()
    latents = torch.randn(1, 4, latent, latent, generator=torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        torch_float32 = VaeDecoder(vae)(latents)
        vae.double()
        reference = VaeDecoder(vae)(latents.double()).double()
        vae.float()
    result = {"variant": variant, "latent": latent, "width": width, "seed": SEED, "torchFloat32": relative(torch_float32, reference)}
    with tempfile.TemporaryDirectory() as folder:
        for attention, install in ATTENTION.items():
            patched = install(vae)
            name = f"vae_decoder_{attention}.onnx"
            export_graph(VaeDecoder(vae), (latents,), Path(folder), name, ["latent_sample"], ["sample"],
                         {"latent_sample": {0: "batch"}, "sample": {0: "batch"}})
            (produced,) = run_onnx(Path(folder) / name, {"latent_sample": latents}).values()
            result[attention] = {"attentionModules": patched, "fromFloat64": relative(produced, reference),
                                 "fromTorchFloat32": relative(produced, torch_float32.double())}
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="unclip-l", choices=["unclip-l", "unclip-h"])
    parser.add_argument("--latent", type=int, default=96, help="latent side (96: 768² images, as published)")
    parser.add_argument("--width", type=int, default=1, choices=[1, 2, 4, 8], help="divide every hidden width by this")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.variant, args.latent, args.width), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
