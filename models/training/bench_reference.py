"""The PyTorch reference side of `npm run bench`: one caption's grid, end to end, on the preset's torch twins.

Prints one JSON line: seconds for the whole grid (encoders, adapter, sampling, bridge, decode), time to
the first row, images per second and peak resident memory. Like the engine's side of the benchmark,
one warm-up grid runs first and is not timed. Same plan as the engine's default:
interpolate rows λ = 0, 0.5, 1, 1.5, 2 and K base samples as columns, all cells of a row in one CFG batch.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import torch

from .pipeline import ShapesPipeline, sample_ggd
from .preset_io import load

LAMBDAS = [0.0, 0.5, 1.0, 1.5, 2.0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", type=Path, default=Path(__file__).resolve().parents[1] / "shapes")
    parser.add_argument("--caption", default="a red shape")
    parser.add_argument("--cols", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    config = load(args.preset)
    pipe = ShapesPipeline(args.preset)
    guidance = config["defaults"]["guidanceScale"]

    def grid():
        started = time.perf_counter()
        mu, alpha, beta = pipe.text_distribution(pipe.text_embeds([args.caption]))
        base = sample_ggd(mu[0], alpha[0], beta[0], args.cols, torch.Generator().manual_seed(0))
        first_row = None
        for lam in LAMBDAS:
            cells = mu[0] + lam * (base - mu[0])
            pipe.decode(pipe.bridge(cells, config["bridge"]), list(range(args.cols)), args.steps, guidance, chunk=args.cols)
            first_row = first_row or time.perf_counter() - started
        return time.perf_counter() - started, first_row

    grid()  # warm-up: first-call allocations and kernel selection, as the engine's warm-up absorbs them
    seconds, first_row = grid()
    images = len(LAMBDAS) * args.cols
    print(json.dumps({
        "implementation": "pytorch-reference", "torch": torch.__version__, "threads": args.threads, "rows": len(LAMBDAS), "cols": args.cols,
        "steps": args.steps, "seconds": round(seconds, 3), "first_row_seconds": round(first_row, 3), "images_per_second": round(images / seconds, 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
