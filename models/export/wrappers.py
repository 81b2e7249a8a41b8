"""Thin modules that give each network the contract's tensor names, dtypes and ranks for export.

Each wraps a module with the diffusers / transformers call signature. Graph inputs and outputs are
float32 (ids int64) whatever the weights' dtype: the casts happen inside the graph, so the engine
feeds and reads float32 for every precision and a half-precision set costs one Cast per tensor.
"""
from __future__ import annotations

import torch
import torch.nn as nn


def weights_dtype(module: nn.Module) -> torch.dtype:
    return next(module.parameters()).dtype


class UNetWithClassLabels(nn.Module):
    """`unet(sample, timestep, encoder_hidden_states, class_labels=...)` with `class_labels` a graph
    input: the common exporters drop it, and Stable unCLIP's image conditioning arrives through it."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states, class_labels):
        dtype = weights_dtype(self.unet)
        # timestep stays float32: diffusers builds the sinusoidal embedding in float32 and casts it itself.
        out = self.unet(sample.to(dtype), timestep, encoder_hidden_states.to(dtype), class_labels=class_labels.to(dtype), return_dict=False)[0]
        return out.float()


class VaeDecoder(nn.Module):
    """`vae.decode(latent_sample)`: the engine divides by latent.scalingFactor before it feeds the
    latents (lib/engine/unclip.ts), so the graph must not divide again."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample):
        return self.vae.decode(latent_sample.to(weights_dtype(self.vae)), return_dict=False)[0].float()


class ClipTextEmbeds(nn.Module):
    """CLIP text tower with projection: `text_embeds` at the end-of-text token, not normalised."""

    def __init__(self, tower: nn.Module):
        super().__init__()
        self.tower = tower

    def forward(self, input_ids):
        return self.tower(input_ids).text_embeds.float()


class ClipImageEmbeds(nn.Module):
    """CLIP image tower with projection: `image_embeds`, not normalised (what StableUnCLIPImg2ImgPipeline feeds)."""

    def __init__(self, tower: nn.Module):
        super().__init__()
        self.tower = tower

    def forward(self, pixel_values):
        return self.tower(pixel_values.to(weights_dtype(self.tower))).image_embeds.float()


class PromptHiddenStates(nn.Module):
    """SD 2.x's prompt encoding: the text encoder's hidden states `layers_to_skip` layers before its
    last, passed through the final layer norm (with 0 this equals `last_hidden_state`)."""

    def __init__(self, text_encoder: nn.Module, layers_to_skip: int):
        super().__init__()
        if layers_to_skip < 0:
            raise ValueError(f"layers_to_skip must be ≥ 0, got {layers_to_skip}")
        self.text_encoder = text_encoder
        self.layers_to_skip = layers_to_skip

    def forward(self, input_ids):
        outputs = self.text_encoder(input_ids, output_hidden_states=True)
        hidden = outputs.hidden_states[-1 - self.layers_to_skip]
        return self.text_encoder.text_model.final_layer_norm(hidden).float()
