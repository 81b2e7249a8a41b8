"""Stage `data`: render the fixed splits and learn the tokenizer; helpers every later stage shares."""
from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch

from . import world
from .bpe import Tokenizer, learn_merges

SPLIT_SIZES = {"train": 20000, "val": 1000, "test": 1000}
QUICK_SPLIT_SIZES = {"train": 256, "val": 64, "test": 64}


def build(work: Path, quick: bool) -> Dict:
    sizes = QUICK_SPLIT_SIZES if quick else SPLIT_SIZES
    arrays = {}
    for split, count in sizes.items():
        scenes = world.make_split(split, count)
        arrays[f"{split}_images"] = world.render_all(scenes)
        (work / f"{split}_scenes.json").write_text(json.dumps([world.scene_to_dict(s) for s in scenes]))
    np.savez_compressed(work / "images.npz", **arrays)
    corpus = world.caption_corpus(world.make_split("train", sizes["train"]), per_scene=5, seed=11)
    tokenizer = Tokenizer(learn_merges(corpus))
    tokenizer.save(work / "tokenizer")
    return {"scenes": sizes, "vocabulary": len(tokenizer.vocab), "merges": len(tokenizer.merges)}


def load_scenes(work: Path, split: str) -> List[world.Scene]:
    return [world.Scene(**{**d, "colour_jitter": tuple(d["colour_jitter"])}) for d in json.loads((work / f"{split}_scenes.json").read_text())]


def load_images(work: Path, split: str) -> torch.Tensor:
    """Images as float tensors in [-1, 1], NCHW."""
    with np.load(work / "images.npz") as data:
        return to_tensor(data[f"{split}_images"])


def to_tensor(images_uint8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images_uint8).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """The inverse of to_tensor: [-1, 1] NCHW floats to uint8 NHWC, clamped."""
    return ((images / 2 + 0.5).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()


def load_tokenizer(work: Path) -> Tokenizer:
    return Tokenizer.load(work / "tokenizer")


def batch_captions(scenes: List[world.Scene], rng: random.Random, full_probability: float) -> List[str]:
    return [world.random_caption(s, rng, full_probability).text for s in scenes]
