"""python3 -m models.twins.gpu_check [--variant unclip-l] [--latent 96] [--width 1] [--iterations 10] [--smoke]

The PyTorch half of scripts/gpu-check.sh: times the twin UNet (the real architecture, random
weights) in PyTorch eager float16 on CUDA, the anchor the engine's GPU path is measured against.
Each timed evaluation is one guidance pair (batch 2) at the given latent size, after warm-up, with
the GPU synchronized around it; it also times batch 16 (8 cells guided, the fp16 preset's
`maxBatch`). Prints one JSON object: the device, torch, the per-evaluation times (median and
range) and what a 5 × 4 grid at 20 steps would spend in the UNet at each batch.

`--smoke` runs the same code on the CPU in float32 at a reduced size, so the script is known to run
where no GPU is (models/twins/tests/test_gpu_check.py).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Dict, List

import torch

from .build import build_twins, twin_configs

GRID_CELLS = 20  # a 5 × 4 grid
GRID_STEPS = 20
# PNDM's PLMS warm-up evaluates one timestep twice: 20 steps are 21 UNet evaluations (docs/science.md).
EVALUATIONS_PER_CELL_BATCH = GRID_STEPS + 1
BATCHES = (2, 16)


def time_unet(unet: torch.nn.Module, batch: int, latent: int, class_dim: int, hidden: int, dtype: torch.dtype, device: str, iterations: int, warmup: int) -> List[float]:
    """Milliseconds of each of `iterations` UNet evaluations at `batch`, after `warmup` untimed ones."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    sample = torch.randn(batch, 4, latent, latent, generator=generator).to(device, dtype)
    states = torch.randn(batch, 77, hidden, generator=generator).to(device, dtype)
    labels = torch.randn(batch, class_dim, generator=generator).to(device, dtype)
    timestep = torch.tensor([501.0], device=device)
    times = []
    with torch.no_grad():
        for i in range(warmup + iterations):
            if device == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
            unet(sample, timestep, states, class_labels=labels, return_dict=False)
            if device == "cuda":
                torch.cuda.synchronize()
            if i >= warmup:
                times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: List[float], batch: int) -> Dict[str, float]:
    median = statistics.median(times)
    # A guided cell takes 2 batch rows; the grid's cells go through in ceil(cells / (batch / 2)) batches.
    cells_per_call = batch // 2
    calls = -(-GRID_CELLS // cells_per_call) * EVALUATIONS_PER_CELL_BATCH
    return {"batch": batch, "msMedian": round(median, 3), "msMin": round(min(times), 3), "msMax": round(max(times), 3),
            "gridUnetSeconds": round(calls * median / 1000, 3)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m models.twins.gpu_check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", default="unclip-l", choices=["unclip-l", "unclip-h"])
    p.add_argument("--latent", type=int, default=96)
    p.add_argument("--width", type=int, default=1)
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--smoke", action="store_true", help="CPU, float32, latent 8, widths ÷ 8, one iteration: proves the script runs")
    a = p.parse_args(argv)
    if a.smoke:
        device, dtype, latent, width, iterations, warmup = "cpu", torch.float32, 8, 8, 1, 0
    else:
        if not torch.cuda.is_available():
            print("gpu_check: no CUDA device; run with --smoke to check the script on a CPU", file=sys.stderr)
            return 2
        device, dtype, latent, width, iterations, warmup = "cuda", torch.float16, a.latent, a.width, a.iterations, 3
    configs = twin_configs(a.variant, latent, width)
    unet = build_twins(configs, seed=0).unet.to(device, dtype).eval()
    class_dim, hidden = configs.unet.projection_class_embeddings_input_dim, configs.unet.cross_attention_dim
    result = {
        "what": f"twin {a.variant} UNet, PyTorch eager {str(dtype).replace('torch.', '')}, latent {latent}×{latent}, widths ÷ {width}",
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "parameters": sum(p.numel() for p in unet.parameters()),
        "grid": f"{GRID_CELLS} cells, {GRID_STEPS} PNDM steps ({EVALUATIONS_PER_CELL_BATCH} evaluations a batch), guided",
        "timings": [summary(time_unet(unet, batch, latent, class_dim, hidden, dtype, device, iterations, warmup), batch) for batch in BATCHES],
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
