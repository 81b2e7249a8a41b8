"""Stage `tune`: the decoder learns to draw a caption's mean.

Stage `unet` conditions only on single images' embeddings. The mean of a vague caption's
distribution is a centroid of many such embeddings, which that decoder draws poorly: it shows the
named colour in fewer cells of a vague caption's mean row than of its sample rows (REPORT.md, "The
mean row of vague captions", with the base UNet). Stable unCLIP's text-to-image route puts a learned prior in
front of the decoder for the same reason. Here the decoder itself is trained on the condition
embeddings it is given at run time: training continues from the base UNet with a share of the rows
conditioned on the bridged text-adapter mean of a random caption of their scene (exactly the
embedding a caption run's mean row decodes), the rest on image embeddings as before, so image runs
and samples keep decoding as they did. Then the UNet is exported again over the base one.

The share, learning rate and averaging were chosen on validation scenes, weighing the mean rows'
colour against the shape kept when decoding image embeddings: a half share at twice the rate, averaged
more briefly, drew mean rows no better and lost more shape. REPORT.md measures the result on the test
split, beside the base UNet.
"""
from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Dict

import torch

from . import data, export, refit_text, train_adapter, train_unet, world
from .pipeline import gap_shift
from .preset_io import load

CAPTIONS_PER_SCENE = 2
CAPTION_MEAN_FRACTION = 0.35
LEARNING_RATE = 1e-4
EMA_DECAY = 0.999


@torch.no_grad()
def caption_means(work: Path, preset: Path, per_scene: int = CAPTIONS_PER_SCENE, seed: int = 21) -> torch.Tensor:
    """[N_train, per_scene, D]: each training scene's random-specificity captions, as a caption run's mean row decodes them."""
    clip, tokenizer = refit_text.load(work), data.load_tokenizer(work)
    adapter = train_adapter.load(preset / "torch")
    bridge = load(preset)["bridge"]
    rng = random.Random(seed)
    scenes = data.load_scenes(work, "train")
    texts = [world.random_caption(s, rng).text for s in scenes for _ in range(per_scene)]
    raw = torch.cat([clip.text.embed_trimmed(tokenizer.encode_batch(texts[i : i + 500])) for i in range(0, len(texts), 500)])
    mu, _, _ = train_adapter.distribution(adapter.text, train_adapter.scale_inputs(raw, adapter.options.text_scale))
    return gap_shift(mu, bridge).reshape(len(scenes), per_scene, -1)


def tune(work: Path, preset: Path, steps: int, log=print) -> Dict:
    """Trains work/unet_tuned.pt from work/unet.pt."""
    base = torch.load(work / "unet.pt")["ema"]
    means = caption_means(work, preset)
    result = train_unet.train(work, steps, lr=LEARNING_RATE, seed=1, log=log, start=base, caption_means=means,
                              caption_mean_fraction=CAPTION_MEAN_FRACTION, warmup=50, ema_decay=EMA_DECAY, out_name="unet_tuned.pt")
    return {**result, "lr": LEARNING_RATE, "caption_mean_fraction": CAPTION_MEAN_FRACTION, "captions_per_scene": CAPTIONS_PER_SCENE}


def run(work: Path, preset: Path, steps: int, log=print) -> Dict:
    """The stage: tune, then export the tuned UNet over the base one, keeping the base's weights for the report."""
    result = tune(work, preset, steps, log)
    shutil.copyfile(work / "unet.pt", preset / "torch" / "unet_base.pt")
    return {**result, **export.replace_unet(work, preset, "unet_tuned.pt")}
