"""Diffusion maths in PyTorch, as docs/science.md (section 7) states it: the reference pipeline for training and evaluation.

The engine (lib/engine) implements the same formulas in TypeScript; pytest pins the constants here.
"""
from __future__ import annotations

import math
from typing import Callable, List, Optional

import torch

from .nets import sinusoidal_embedding

TRAIN_TIMESTEPS = 1000
BETA_START, BETA_END = 0.00085, 0.012


def scaled_linear_alphas_cumprod(n: int = TRAIN_TIMESTEPS) -> torch.Tensor:
    betas = torch.linspace(math.sqrt(BETA_START), math.sqrt(BETA_END), n, dtype=torch.float64) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


def squaredcos_alphas_cumprod(n: int = TRAIN_TIMESTEPS) -> torch.Tensor:
    def abar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = torch.tensor([min(1 - abar((i + 1) / n) / abar(i / n), 0.999) for i in range(n)], dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


_NOISE_AUG_ABAR = squaredcos_alphas_cumprod()


def noise_augment(embeds: torch.Tensor, level: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Stable unCLIP's image-embedding noise augmentation; returns class_labels [B, 2D]."""
    abar = _NOISE_AUG_ABAR[level.long()].to(embeds.dtype).reshape(-1, 1)
    x = (embeds - mean) / std
    x = abar.sqrt() * x + (1 - abar).sqrt() * noise
    x = x * std + mean
    return torch.cat([x, sinusoidal_embedding(level, embeds.shape[1])], dim=-1)


def v_target(x0: torch.Tensor, noise: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    return abar.sqrt() * noise - (1 - abar).sqrt() * x0


def leading_timesteps(steps: int, offset: int = 1, n: int = TRAIN_TIMESTEPS) -> List[int]:
    ratio = n // steps
    return [i * ratio + offset for i in reversed(range(steps))]


def _x0_eps(sample, v, abar):
    return abar.sqrt() * sample - (1 - abar).sqrt() * v, abar.sqrt() * v + (1 - abar).sqrt() * sample


Denoiser = Callable[[torch.Tensor, int], torch.Tensor]


@torch.no_grad()
def ddim_sample(denoise: Denoiser, latents: torch.Tensor, steps: int) -> torch.Tensor:
    """DDIM, eta 0, v-prediction; the final step goes to ā_0 (set_alpha_to_one=False)."""
    abars = scaled_linear_alphas_cumprod().float()
    ts = leading_timesteps(steps)
    x = latents
    ratio = TRAIN_TIMESTEPS // steps
    for t in ts:
        v = denoise(x, t)
        abar = abars[t]
        prev = t - ratio
        abar_prev = abars[prev] if prev >= 0 else abars[0]
        x0, eps = _x0_eps(x, v, abar)
        x = abar_prev.sqrt() * x0 + (1 - abar_prev).sqrt() * eps
    return x


@torch.no_grad()
def pndm_sample(denoise: Denoiser, latents: torch.Tensor, steps: int) -> torch.Tensor:
    """PNDM with skip_prk_steps (PLMS only) as diffusers' PNDMScheduler.

    Like diffusers, the multistep combination is taken over the raw model outputs (v), and the
    combined output is turned into ε with the ā and sample of the update it feeds.
    """
    abars = scaled_linear_alphas_cumprod().float()
    ratio = TRAIN_TIMESTEPS // steps
    base = leading_timesteps(steps)
    ts = base[:2] + base[1:]  # [951, 901, 901, 851, …]: the second timestep is evaluated twice (PLMS warm-up)
    x = latents
    outputs: List[torch.Tensor] = []
    held: Optional[torch.Tensor] = None
    for counter, t in enumerate(ts):
        out = denoise(x, t)
        prev = t - ratio
        if counter == 1:
            prev, t = t, t + ratio
        else:
            outputs = outputs[-3:] + [out]
        if counter == 0:
            held = x
            combined = out
        elif counter == 1:
            combined = (out + outputs[-1]) / 2
            x, held = held, None
        elif len(outputs) == 2:
            combined = (3 * outputs[-1] - outputs[-2]) / 2
        elif len(outputs) == 3:
            combined = (23 * outputs[-1] - 16 * outputs[-2] + 5 * outputs[-3]) / 12
        else:
            combined = (55 * outputs[-1] - 59 * outputs[-2] + 37 * outputs[-3] - 9 * outputs[-4]) / 24
        x = _pndm_prev(x, combined, abars, t, prev)
    return x


def _pndm_prev(sample, v, abars, t, prev):
    abar_t = abars[t]
    abar_prev = abars[prev] if prev >= 0 else abars[0]
    eps = abar_t.sqrt() * v + (1 - abar_t).sqrt() * sample
    beta_t, beta_prev = 1 - abar_t, 1 - abar_prev
    coeff = (abar_prev / abar_t).sqrt()
    denom = abar_t * beta_prev.sqrt() + (abar_t * beta_t * abar_prev).sqrt()
    return coeff * sample - (abar_prev - abar_t) * eps / denom


SAMPLERS = {"ddim": ddim_sample, "pndm": pndm_sample}
