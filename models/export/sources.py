"""What the exporter needs from a checkpoint: plain torch modules plus the configuration facts.

`load.py` fills a `Sources` from the Hugging Face checkpoints; the tests fill one with tiny
stand-in modules that have the same call signatures.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Tuple

import torch


@dataclass
class TokenizerFiles:
    """A CLIP-format BPE tokenizer on disk, and its special ids."""

    vocab: Path
    merges: Path
    bos: int
    eos: int
    pad: int
    context_length: int = 77


@dataclass
class Sources:
    # Modules, called with diffusers / transformers signatures (see wrappers.py).
    unet: torch.nn.Module  # unet(sample, timestep, encoder_hidden_states, class_labels=..., return_dict=False)[0]
    vae: torch.nn.Module  # vae.decode(latents, return_dict=False)[0]
    clip_text: torch.nn.Module  # clip_text(input_ids).text_embeds
    clip_image: torch.nn.Module  # clip_image(pixel_values).image_embeds
    prompt_encoder: torch.nn.Module  # prompt_encoder(input_ids, output_hidden_states=True).hidden_states; .text_model.final_layer_norm
    # How many final encoder layers to skip so the output is OpenCLIP ViT-H's penultimate layer
    # (0 when the checkpoint's text encoder already ends there, as SD 2.x's 23-layer one does).
    prompt_layers_to_skip: int
    clip_tokenizer: TokenizerFiles
    prompt_tokenizer: TokenizerFiles
    # diffusers scheduler configs as dicts (scheduler/ and image_noising_scheduler/ scheduler_config.json).
    scheduler_config: Dict[str, Any]
    noising_scheduler_config: Dict[str, Any]
    normalizer_mean: torch.Tensor  # [D] or [1, D]
    normalizer_std: torch.Tensor
    clip_image_size: int
    clip_image_mean: Tuple[float, float, float]
    clip_image_std: Tuple[float, float, float]
    image_size: int
    latent_channels: int
    latent_downsample: int
    vae_scaling_factor: float
    prompt_hidden_size: int
    # Checkpoint ids, resolved revisions, library versions: copied into preset.json's provenance.
    provenance: Dict[str, Any] = field(default_factory=dict)
