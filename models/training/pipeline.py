"""The PyTorch reference pipeline on the shapes weights: GGD sampling, bridging and unCLIP decoding.

REPORT.md is computed with it, and the engine's benchmark runs it beside Penumbra as the baseline.
It follows docs/science.md step for step; the TypeScript engine is the product, this is the yardstick.
"""
from __future__ import annotations

from pathlib import Path
from typing import List

import numpy as np
import torch
import torch.nn.functional as F

from . import data, train_adapter, train_clip, train_unet, train_vae
from .diffusion import SAMPLERS, noise_augment


class ShapesPipeline:
    """Loads the PyTorch twins of a preset's ONNX files from `<preset>/torch` (written by the build)."""

    def __init__(self, preset: Path, unet: str = "unet.pt"):
        """`unet` names the UNet weights in <preset>/torch: unet.pt is the exported one, unet_base.pt the base before stage `tune`."""
        weights = preset / "torch"
        self.tokenizer = data.load_tokenizer(preset)
        self.clip = train_clip.load(weights)
        self.vae, self.scaling_factor = train_vae.load(weights)
        self.unet, self.stats = train_unet.load(weights, unet)
        self.adapter = train_adapter.load(weights)
        with torch.no_grad():
            # The UNet's prompt encoder is the text tower it was trained with, stage clip's (refit_text.py).
            self.empty_prompt = train_clip.load(weights, "clip_base.pt").text.hidden_states(self.tokenizer.encode_batch([""]))

    # -- encoders and adapter ------------------------------------------------------------------
    @torch.no_grad()
    def text_embeds(self, texts: List[str]) -> torch.Tensor:
        return torch.cat([self.clip.text.embed_trimmed(self.tokenizer.encode_batch(texts[i : i + 500])) for i in range(0, len(texts), 500)])

    @torch.no_grad()
    def image_embeds(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.clip.image(images[i : i + 500]) for i in range(0, len(images), 500)])

    def text_distribution(self, raw: torch.Tensor):
        return train_adapter.distribution(self.adapter.text, train_adapter.scale_inputs(raw, self.adapter.options.text_scale))

    def image_distribution(self, raw: torch.Tensor):
        return train_adapter.distribution(self.adapter.image, train_adapter.scale_inputs(raw, self.adapter.options.image_scale))

    def text_uncertainty(self, raw: torch.Tensor) -> torch.Tensor:
        return train_adapter.uncertainty(self.adapter.text, train_adapter.scale_inputs(raw, self.adapter.options.text_scale))

    def image_means(self, raw: torch.Tensor) -> torch.Tensor:
        """Means of the images' distributions (deviation 0), back at each input's own decoder scale."""
        mu, _, _ = self.image_distribution(raw)
        return F.normalize(mu, dim=-1) * raw.norm(dim=-1, keepdim=True)

    def bridge(self, text_space: torch.Tensor, bridge: dict) -> torch.Tensor:
        return gap_shift(text_space, bridge)

    # -- decoding ----------------------------------------------------------------------------------
    @torch.no_grad()
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] through the VAE's encoder mean and decoder, without the UNet."""
        return self.vae.decoder(self.vae.encoder(images)[0]).clamp(-1, 1)

    @torch.no_grad()
    def decode(self, embeds: torch.Tensor, seeds: List[int], steps: int = 20, guidance: float = 3.0, noise_level: int = 0,
               scheduler: str = "pndm", chunk: int = 25) -> np.ndarray:
        """Image embeddings (decoder scale) -> uint8 images [N, 64, 64, 3]; one latent seed per image."""
        out = []
        for start in range(0, len(embeds), chunk):
            e = embeds[start : start + chunk]
            n = len(e)
            # Each image's latents and augmentation noise come from its own seed, wherever it sits in a chunk.
            generators = [torch.Generator().manual_seed(s) for s in seeds[start : start + n]]
            latents = torch.stack([torch.randn(4, 16, 16, generator=g) for g in generators])
            aug_noise = torch.stack([torch.randn(e.shape[1], generator=g) for g in generators])
            levels = torch.full((n,), noise_level, dtype=torch.long)
            cond = noise_augment(e, levels, self.stats["mean"], self.stats["std"], aug_noise)
            labels = torch.cat([torch.zeros_like(cond), cond])
            prompts = self.empty_prompt.expand(2 * n, -1, -1)

            def denoise(x, t):
                both = self.unet(torch.cat([x, x]), torch.tensor([t]), prompts, labels)
                uncond, conditioned = both.chunk(2)
                return uncond + guidance * (conditioned - uncond)

            z = SAMPLERS[scheduler](denoise, latents, steps)
            pixels = self.vae.decoder(z / self.scaling_factor)
            out.append(data.to_uint8(pixels))
        return np.concatenate(out)


def gap_shift(text_space: torch.Tensor, bridge: dict) -> torch.Tensor:
    """A preset's gap-shift bridge: from the text adapter's space to the image adapter's, then back to the decoder's scale."""
    shifted = text_space - torch.tensor(bridge["textMean"]) + torch.tensor(bridge["imageMean"])
    return F.normalize(shifted, dim=-1) * bridge["imageNorm"]


def sample_ggd(mu: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """`count` draws x = μ + α·s·G^(1/β), G ~ Gamma(1/β, 1), s = ±1 (docs/science.md, section 3)."""
    shape = (count,) + tuple(mu.shape)
    gamma = torch._standard_gamma((1.0 / beta).expand(shape).contiguous(), generator=generator)
    sign = torch.where(torch.rand(shape, generator=generator) < 0.5, -1.0, 1.0)
    return mu + alpha * sign * gamma.pow(1.0 / beta)
