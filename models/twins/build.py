"""Building the five twins for a variant, full size or reduced, with seeded random weights."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from .clip import CLIPTextModel, CLIPTextModelWithProjection, CLIPVisionModelWithProjection
from .configs import TWIN_CONFIGS, TwinConfigs, narrowed
from .unet import UNet2DConditionModel
from .vae import AutoencoderKL

DOWNSAMPLE = 8  # four VAE levels: 2³


@dataclass
class Twins:
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    clip_text: CLIPTextModelWithProjection
    clip_image: CLIPVisionModelWithProjection
    prompt_encoder: CLIPTextModel


def twin_configs(variant: str, latent: int = 96, width: int = 1) -> TwinConfigs:
    if variant not in TWIN_CONFIGS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {sorted(TWIN_CONFIGS)}")
    configs = narrowed(TWIN_CONFIGS[variant], width)
    return replace(configs, unet=replace(configs.unet, sample_size=latent), vae=replace(configs.vae, sample_size=latent * DOWNSAMPLE))


def build_twins(configs: TwinConfigs, seed: int = 0, device=None) -> Twins:
    """The five modules with torch's default initialisation, each from its own seed (seed·8 + k), so
    one module's weights do not depend on the others'; the global random state is left as it was."""
    builders = [(UNet2DConditionModel, configs.unet), (AutoencoderKL, configs.vae), (CLIPTextModelWithProjection, configs.clip_text),
                (CLIPVisionModelWithProjection, configs.clip_image), (CLIPTextModel, configs.prompt_encoder)]
    modules = []
    for k, (cls, config) in enumerate(builders):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 8 + k)
            modules.append(cls(config, device=device).eval())
    return Twins(*modules)
