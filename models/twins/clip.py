"""Twins of transformers' CLIP towers: CLIPTextModel, CLIPTextModelWithProjection and
CLIPVisionModelWithProjection, with their module trees and parameter names (text_model.embeddings.
token_embedding, …, vision_model.pre_layrnorm, visual_projection, text_projection; the position-id
buffers are not persistent, as in transformers ≥ 4.31, so state dicts load with strict=True).

The calls are the subset the exporter makes: `model(input_ids, output_hidden_states=…)` and
`model(pixel_values)`, returning objects with transformers' field names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .configs import ClipTextConfig, ClipVisionConfig


def _activation(name: str):
    if name == "quick_gelu":  # OpenAI CLIP's sigmoid approximation
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == "gelu":
        return F.gelu
    raise ValueError(f"hidden_act {name!r} is neither quick_gelu (OpenAI CLIP) nor gelu (OpenCLIP)")


@dataclass
class TextOutput:
    last_hidden_state: torch.Tensor
    pooler_output: torch.Tensor
    hidden_states: Optional[Tuple[torch.Tensor, ...]] = None


@dataclass
class TextEmbedsOutput:
    text_embeds: torch.Tensor
    last_hidden_state: torch.Tensor


@dataclass
class ImageEmbedsOutput:
    image_embeds: torch.Tensor
    last_hidden_state: torch.Tensor


class CLIPAttention(nn.Module):
    def __init__(self, hidden: int, heads: int, device=None):
        super().__init__()
        self.heads = heads
        self.scale = (hidden // heads) ** -0.5
        self.k_proj = nn.Linear(hidden, hidden, device=device)
        self.v_proj = nn.Linear(hidden, hidden, device=device)
        self.q_proj = nn.Linear(hidden, hidden, device=device)
        self.out_proj = nn.Linear(hidden, hidden, device=device)

    def forward(self, hidden_states: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        batch, length, width = hidden_states.shape
        query, key, value = (p(hidden_states).view(batch, length, self.heads, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        scores = torch.matmul(query, key.transpose(-1, -2)) * self.scale
        if mask is not None:
            scores = scores + mask
        # transformers takes the softmax in float32 whatever the weights' dtype.
        probabilities = scores.softmax(dim=-1, dtype=torch.float32).to(query.dtype)
        return self.out_proj(torch.matmul(probabilities, value).transpose(1, 2).reshape(batch, length, width))


class CLIPMLP(nn.Module):
    def __init__(self, hidden: int, intermediate: int, act: str, device=None):
        super().__init__()
        self.activation_fn = _activation(act)
        self.fc1 = nn.Linear(hidden, intermediate, device=device)
        self.fc2 = nn.Linear(intermediate, hidden, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_fn(self.fc1(x)))


class CLIPEncoderLayer(nn.Module):
    def __init__(self, config, device=None):
        super().__init__()
        self.self_attn = CLIPAttention(config.hidden_size, config.num_attention_heads, device=device)
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, device=device)
        self.mlp = CLIPMLP(config.hidden_size, config.intermediate_size, config.hidden_act, device=device)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, device=device)

    def forward(self, hidden_states: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        hidden_states = hidden_states + self.self_attn(self.layer_norm1(hidden_states), mask)
        return hidden_states + self.mlp(self.layer_norm2(hidden_states))


class CLIPEncoder(nn.Module):
    def __init__(self, config, device=None):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(config, device=device) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden_states: torch.Tensor, mask: Optional[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        """Every hidden state, the embeddings first (transformers' `hidden_states`)."""
        states = [hidden_states]
        for layer in self.layers:
            states.append(layer(states[-1], mask))
        return tuple(states)


class CLIPTextEmbeddings(nn.Module):
    def __init__(self, config: ClipTextConfig, device=None):
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.hidden_size, device=device)
        self.position_embedding = nn.Embedding(config.max_position_embeddings, config.hidden_size, device=device)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings, device=device).expand((1, -1)), persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.token_embedding(input_ids) + self.position_embedding(self.position_ids[:, : input_ids.shape[-1]])


class CLIPTextTransformer(nn.Module):
    def __init__(self, config: ClipTextConfig, device=None):
        super().__init__()
        self.config = config
        self.embeddings = CLIPTextEmbeddings(config, device=device)
        self.encoder = CLIPEncoder(config, device=device)
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, device=device)

    def forward(self, input_ids: torch.Tensor, output_hidden_states: bool = False) -> TextOutput:
        embeddings = self.embeddings(input_ids)
        length = input_ids.shape[-1]
        # Causal: each token sees itself and the tokens before it.
        causal = torch.full((length, length), torch.finfo(embeddings.dtype).min, dtype=embeddings.dtype, device=embeddings.device).triu(1)
        states = self.encoder(embeddings, causal[None, None])
        last = self.final_layer_norm(states[-1])
        ids = input_ids.to(torch.int)
        if self.config.eos_token_id == 2:
            eos_position = ids.argmax(dim=-1)  # transformers' legacy rule: the largest id is the end-of-text token
        else:
            eos_position = (ids == self.config.eos_token_id).int().argmax(dim=-1)
        pooled = last[torch.arange(last.shape[0], device=last.device), eos_position]
        return TextOutput(last_hidden_state=last, pooler_output=pooled, hidden_states=states if output_hidden_states else None)


class CLIPTextModel(nn.Module):
    """The prompt encoder: `hidden_states` (with output_hidden_states) and `text_model.final_layer_norm`."""

    def __init__(self, config: ClipTextConfig, device=None):
        super().__init__()
        self.config = config
        self.text_model = CLIPTextTransformer(config, device=device)

    def forward(self, input_ids: torch.Tensor, output_hidden_states: bool = False) -> TextOutput:
        return self.text_model(input_ids, output_hidden_states=output_hidden_states)


class CLIPTextModelWithProjection(nn.Module):
    def __init__(self, config: ClipTextConfig, device=None):
        super().__init__()
        self.config = config
        self.text_model = CLIPTextTransformer(config, device=device)
        self.text_projection = nn.Linear(config.hidden_size, config.projection_dim, bias=False, device=device)

    def forward(self, input_ids: torch.Tensor) -> TextEmbedsOutput:
        out = self.text_model(input_ids)
        return TextEmbedsOutput(text_embeds=self.text_projection(out.pooler_output), last_hidden_state=out.last_hidden_state)


class CLIPVisionEmbeddings(nn.Module):
    def __init__(self, config: ClipVisionConfig, device=None):
        super().__init__()
        self.image_size = config.image_size
        positions = (config.image_size // config.patch_size) ** 2 + 1
        self.class_embedding = nn.Parameter(torch.randn(config.hidden_size, device=device))
        self.patch_embedding = nn.Conv2d(config.num_channels, config.hidden_size, config.patch_size, stride=config.patch_size, bias=False, device=device)
        self.position_embedding = nn.Embedding(positions, config.hidden_size, device=device)
        self.register_buffer("position_ids", torch.arange(positions, device=device).expand((1, -1)), persistent=False)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if tuple(pixel_values.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"expected {self.image_size}×{self.image_size} pixels, got {tuple(pixel_values.shape[-2:])}")
        patches = self.patch_embedding(pixel_values.to(self.patch_embedding.weight.dtype)).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.class_embedding.expand(pixel_values.shape[0], 1, -1), patches], dim=1)
        return tokens + self.position_embedding(self.position_ids)


class CLIPVisionTransformer(nn.Module):
    def __init__(self, config: ClipVisionConfig, device=None):
        super().__init__()
        self.embeddings = CLIPVisionEmbeddings(config, device=device)
        self.pre_layrnorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, device=device)  # sic: transformers' spelling
        self.encoder = CLIPEncoder(config, device=device)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, device=device)

    def forward(self, pixel_values: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        last = self.encoder(self.pre_layrnorm(self.embeddings(pixel_values)), None)[-1]
        return last, self.post_layernorm(last[:, 0])


class CLIPVisionModelWithProjection(nn.Module):
    def __init__(self, config: ClipVisionConfig, device=None):
        super().__init__()
        self.config = config
        self.vision_model = CLIPVisionTransformer(config, device=device)
        self.visual_projection = nn.Linear(config.hidden_size, config.projection_dim, bias=False, device=device)

    def forward(self, pixel_values: torch.Tensor) -> ImageEmbedsOutput:
        last, pooled = self.vision_model(pixel_values)
        return ImageEmbedsOutput(image_embeds=self.visual_projection(pooled), last_hidden_state=last)
