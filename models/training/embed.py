"""Stage `embed`: frozen-CLIP embeddings of every split, and the adapter's paired-embeddings files.

A pairs file is the generic input of train_adapter.py: `image_embeds` [N,D] and `text_embeds` [N,D]
float32 (raw tower outputs), plus `texts` for reading. Nothing in it is specific to shapes.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Dict

import numpy as np
import torch

from . import data, refit_text, world

CAPTIONS_PER_IMAGE = 4


@torch.no_grad()
def image_embeds(model, images: torch.Tensor) -> torch.Tensor:
    return torch.cat([model.image(images[i : i + 500]) for i in range(0, len(images), 500)])


@torch.no_grad()
def text_embeds(model, tokenizer, texts) -> torch.Tensor:
    return torch.cat([model.text.embed_trimmed(tokenizer.encode_batch(texts[i : i + 500])) for i in range(0, len(texts), 500)])


def build(work: Path, seed: int = 5) -> Dict:
    model = refit_text.load(work)  # its image tower is stage clip's, unchanged
    tokenizer = data.load_tokenizer(work)
    out: Dict[str, torch.Tensor] = {}
    for split in ("train", "val", "test"):
        out[split] = image_embeds(model, data.load_images(work, split))
    torch.save(out, work / "image_embeds.pt")
    rng = random.Random(seed)
    counts = {}
    for split in ("train", "val"):
        scenes = data.load_scenes(work, split)
        rows = [(i, world.random_caption(s, rng).text) for i, s in enumerate(scenes) for _ in range(CAPTIONS_PER_IMAGE)]
        texts = [t for _, t in rows]
        np.savez(
            work / f"pairs_{split}.npz",
            image_embeds=out[split][[i for i, _ in rows]].numpy().astype(np.float32),
            text_embeds=text_embeds(model, tokenizer, texts).numpy().astype(np.float32),
            texts=np.array(texts),
        )
        counts[split] = len(rows)
    return {"pairs": counts, "image_embed_norm_mean": round(float(out["train"].norm(dim=-1).mean()), 4)}
