"""Stage `unet`: the unCLIP decoder UNet on VAE latents, v-prediction, CFG-ready condition dropout.

Conditioning follows Stable unCLIP: class_labels = [noise-augmented image embedding, sinusoidal
embedding of the noise level] and cross-attention to the prompt encoder's hidden states.
"""
from __future__ import annotations

import copy
import math
import random
import time
from pathlib import Path
from typing import Dict, Optional

import torch
import torch.nn.functional as F

from . import data, train_clip
from .diffusion import noise_augment, scaled_linear_alphas_cumprod, v_target
from .nets import UnclipUNet

CONDITION_DROPOUT = 0.1  # unconditional: class_labels all zeros and the empty prompt
PROMPT_PROBABILITY = 0.3  # otherwise the empty prompt: Penumbra's default decode is embedding-only
EMA_DECAY = 0.999
WIDE_NOISE_FRACTION = 0.25


def embedding_stats(work: Path) -> Dict[str, torch.Tensor]:
    train = torch.load(work / "image_embeds.pt")["train"]
    return {"mean": train.mean(0), "std": train.std(0)}


def sample_noise_levels(n: int, generator: torch.Generator) -> torch.Tensor:
    # Mostly near 0 (the default decode, where the embedding must carry the shape); a quarter uniform over all
    # 1000 levels so that off-manifold embeddings far from the mean still decode to plausible scenes.
    wide = torch.randint(0, 1000, (n,), generator=generator)
    low = torch.randint(0, 50, (n,), generator=generator)
    return torch.where(torch.rand(n, generator=generator) < WIDE_NOISE_FRACTION, wide, low)


def train(work: Path, steps: int, batch: int = 32, lr: float = 5e-4, seed: int = 0, log=print, start: Optional[Dict] = None,
          caption_means: Optional[torch.Tensor] = None, caption_mean_fraction: float = 0.0, warmup: int = 200, ema_decay: float = EMA_DECAY,
          out_name: str = "unet.pt") -> Dict:
    """Trains the UNet from scratch, or from `start` (a saved state) when tuning.

    caption_means [N_train, K, D]: decoder-space embeddings of K caption means per training scene; a
    `caption_mean_fraction` of the conditioned rows then use one of their scene's caption means
    instead of the scene's image embedding (stage `tune`, models/training/tune_unet.py).
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    latents = torch.load(work / "train_latents.pt")
    embeds = torch.load(work / "image_embeds.pt")["train"]
    stats = embedding_stats(work)
    scenes = data.load_scenes(work, "train")
    tokenizer = data.load_tokenizer(work)
    text_tower = train_clip.load(work).text
    with torch.no_grad():
        empty_prompt = text_tower.hidden_states(tokenizer.encode_batch([""]))
    abars = scaled_linear_alphas_cumprod().float()

    model = UnclipUNet()
    if start is not None:
        model.load_state_dict(start)
    ema = copy.deepcopy(model).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    started = time.time()
    for step in range(steps):
        idx = torch.randint(0, len(latents), (batch,), generator=generator)
        x0 = latents[idx]
        t = torch.randint(0, 1000, (batch,), generator=generator)
        noise = torch.randn(x0.shape, generator=generator)
        abar = abars[t].reshape(-1, 1, 1, 1)
        x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * noise

        level = sample_noise_levels(batch, generator)
        condition = embeds[idx]
        if caption_means is not None:
            use_caption = torch.rand(batch, generator=generator) < caption_mean_fraction
            which = torch.randint(0, caption_means.shape[1], (batch,), generator=generator)
            condition = torch.where(use_caption[:, None], caption_means[idx, which], condition)
        class_labels = noise_augment(condition, level, stats["mean"], stats["std"], torch.randn(condition.shape, generator=generator))
        uncond = torch.rand(batch, generator=generator) < CONDITION_DROPOUT
        class_labels[uncond] = 0.0
        with_prompt = [(not uncond[i]) and rng.random() < PROMPT_PROBABILITY for i in range(batch)]
        prompts = empty_prompt.expand(batch, -1, -1).clone()
        if any(with_prompt):
            rows = [i for i, w in enumerate(with_prompt) if w]
            texts = data.batch_captions([scenes[int(idx[i])] for i in rows], rng, full_probability=0.0)
            with torch.no_grad():
                prompts[rows] = text_tower.hidden_states(tokenizer.encode_batch(texts))

        pred = model(x_t, t, prompts, class_labels)
        loss = F.mse_loss(pred, v_target(x0, noise, abar))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        decay = ema_decay if start is not None else min(ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(decay).add_(pm, alpha=1 - decay)
        if step % 250 == 0 or step == steps - 1:
            log(f"unet step {step}/{steps} loss {loss.item():.4f} ({time.time() - started:.0f}s)")
    torch.save({"ema": ema.state_dict(), "stats": stats}, work / out_name)
    return {"steps": steps, "batch": batch, "parameters": sum(p.numel() for p in model.parameters()), "final_loss": round(loss.item(), 4)}


def load(folder: Path, name: str = "unet.pt"):
    saved = torch.load(folder / name)
    model = UnclipUNet()
    model.load_state_dict(saved["ema"])
    return model.eval(), saved["stats"]
