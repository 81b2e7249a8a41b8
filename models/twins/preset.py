"""python3 -m models.twins.preset --variant unclip-l|unclip-h [--latent N] [--width W] [--out DIR]

Writes a complete preset from the twins (random weights, real architecture): the real exporter
(models/export, fp32) on `twin_sources`, then a toy ProbVLM adapter trained by
models/training/train_adapter.py on pairs the twin CLIP towers embed (random images and random
token strings; the adapter is there so the engine opens the preset, not to mean anything).
`npm run preset:check -- DIR` passes on the result and `npm run grid -- … --preset DIR` decodes it.

    --latent 96 --width 1   full size: 768² images, 96×96 latents, every width as published
    --latent 16             the architecture at a small spatial size (128² images)
    --width 8               every hidden width ÷ 8, layers and heads kept (the CI test's setting)
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Dict

import numpy as np
import torch

from models.export.export_preset import REPO, export_preset
from models.export.onnx_files import PROTOBUF_LIMIT_BYTES
from models.export.precision import PRECISIONS
from models.export.sources import Sources, TokenizerFiles
from models.export.variants import VARIANTS, Variant
from models.export.wrappers import ClipImageEmbeds, ClipTextEmbeds
from models.training import train_adapter

from .configs import WIDTH_DIVISORS
from .sources import CLIP_MEAN, CLIP_STD, check_latent, twin_sources

EMBED_BATCH = 16


def twin_variant(variant: str, latent: int, width: int) -> Variant:
    """The variant under its own name and embedding space, so a twin preset is never taken for the
    real one, nor its adapter copied into a real preset (export_preset.copy_adapter compares spaces)."""
    real = VARIANTS[variant]
    size = f"{latent * 8}² images" + ("" if width == 1 else f", widths ÷ {width}")
    return replace(real, name=f"twin-{variant}", title=f"Twin of {real.title} (random weights, {size})",
                   description=f"TWIN: {real.checkpoint}'s architecture with seeded random weights (models/twins), {size}; its images are noise by design.",
                   embedding_space=f"twin-{real.embedding_space}")


def _random_captions(tokenizer: TokenizerFiles, count: int, generator: torch.Generator) -> torch.Tensor:
    """bos, 3–20 ordinary tokens, eos, then padding: the shape of a tokenized caption."""
    ids = torch.full((count, tokenizer.context_length), tokenizer.pad, dtype=torch.int64)
    lengths = torch.randint(3, 21, (count,), generator=generator)
    for row, length in enumerate(lengths.tolist()):
        ids[row, 0] = tokenizer.bos
        ids[row, 1 : 1 + length] = torch.randint(0, min(tokenizer.bos, tokenizer.eos), (length,), generator=generator)
        ids[row, 1 + length] = tokenizer.eos
    return ids


def embed_pairs(sources: Sources, count: int, path: Path, seed: int) -> None:
    """An npz of `count` image and text embeddings from the twin towers, as train_adapter reads it."""
    generator = torch.Generator().manual_seed(seed)
    size = sources.clip_image_size
    mean, std = torch.tensor(CLIP_MEAN)[:, None, None], torch.tensor(CLIP_STD)[:, None, None]
    pixels = (torch.rand(count, 3, size, size, generator=generator) - mean) / std
    captions = _random_captions(sources.clip_tokenizer, count, generator)
    image_tower, text_tower = ClipImageEmbeds(sources.clip_image).eval(), ClipTextEmbeds(sources.clip_text).eval()
    with torch.no_grad():
        images = torch.cat([image_tower(pixels[i : i + EMBED_BATCH]) for i in range(0, count, EMBED_BATCH)])
        texts = torch.cat([text_tower(captions[i : i + EMBED_BATCH]) for i in range(0, count, EMBED_BATCH)])
    np.savez(path, image_embeds=images.numpy().astype(np.float32), text_embeds=texts.numpy().astype(np.float32))


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def build(variant: str, out: Path, latent: int = 96, width: int = 1, seed: int = 0, pairs: int = 64, adapter_steps: int = 20,
          log=lambda message: print(message, file=sys.stderr)) -> Dict:
    """Writes the preset folder `out`; returns a summary with each stage's seconds."""
    seconds = {}
    started = time.perf_counter()
    sources = twin_sources(variant, latent=latent, seed=seed, width=width)
    seconds["build"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="penumbra-twin-pairs-") as scratch:
        pairs_file = Path(scratch) / "pairs.npz"
        started = time.perf_counter()
        embed_pairs(sources, pairs, pairs_file, seed)
        seconds["embedPairs"] = time.perf_counter() - started
        started = time.perf_counter()
        summary = export_preset(sources, twin_variant(variant, latent, width), PRECISIONS["fp32"], out, external_data_threshold=PROTOBUF_LIMIT_BYTES, log=log,
                                command=f"python3 -m models.twins.preset --variant {variant} --latent {latent} --width {width} --seed {seed}")
        seconds["export"] = time.perf_counter() - started
        del sources  # the modules are done with; the adapter needs only the pairs
        started = time.perf_counter()
        train_adapter.run(train_adapter.Options(pairs=pairs_file, preset=out, steps=adapter_steps, batch=min(32, pairs), seed=seed), log=lambda m: None)
        seconds["adapter"] = time.perf_counter() - started
    return {"preset": str(out), "name": summary["name"], "files": summary["files"], "bytes": _folder_bytes(out),
            "seconds": {k: round(v, 1) for k, v in seconds.items()},
            "peakRssMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python3 -m models.twins.preset", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    p.add_argument("--latent", type=int, default=96, help="latent side, a multiple of 8; images are 8× that (default 96: 768²)")
    p.add_argument("--width", type=int, default=1, choices=WIDTH_DIVISORS, help="divide every hidden width by this (default 1: as published)")
    p.add_argument("--seed", type=int, default=0, help="seed of the twins' weights, the normalizer statistics and the pairs")
    p.add_argument("--out", type=Path, help="preset folder (default: models/twin-<variant>)")
    p.add_argument("--pairs", type=int, default=64, help="pairs the twin towers embed for the toy adapter")
    p.add_argument("--adapter-steps", type=int, default=20, help="training steps of the toy adapter")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    out = a.out or REPO / "models" / f"twin-{a.variant}"
    try:
        check_latent(a.latent)
    except ValueError as error:
        p.error(str(error))
    summary = build(a.variant, out, latent=a.latent, width=a.width, seed=a.seed, pairs=a.pairs, adapter_steps=a.adapter_steps)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
