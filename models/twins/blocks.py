"""Building blocks shared by the twin UNet and VAE, with diffusers 0.27's attribute names.

Every constructor takes `device`, passed to each layer, so a full-size twin can be built on the
meta device (no memory, no initialisation) when only its structure or parameter count matters.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


class AttnProcessor:
    """What diffusers' `AttnProcessor` computes: QKᵀ in float32 when the module upcasts attention,
    the softmax in float32 when it upcasts the softmax, the probabilities back in the query's dtype.
    Twins take no attention mask: no caller of the exporter passes one."""

    def __call__(self, attn: "Attention", hidden_states: torch.Tensor, encoder_hidden_states: Optional[torch.Tensor] = None,
                 attention_mask: Optional[torch.Tensor] = None, temb: Optional[torch.Tensor] = None) -> torch.Tensor:
        if attention_mask is not None:
            raise ValueError("the twins' attention takes no mask")
        residual = hidden_states
        spatial_shape = hidden_states.shape if hidden_states.ndim == 4 else None
        if spatial_shape is not None:  # the VAE attends over the pixels of a feature map
            hidden_states = hidden_states.flatten(2).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        batch, heads = hidden_states.shape[0], attn.heads
        query, key, value = (t.view(batch, -1, heads, t.shape[-1] // heads).transpose(1, 2)
                             for t in (attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)))
        dtype = query.dtype
        if attn.upcast_attention:
            query, key = query.float(), key.float()
        scores = torch.matmul(query, key.transpose(-1, -2)) * attn.scale
        if attn.upcast_softmax:
            scores = scores.float()
        probabilities = scores.softmax(dim=-1).to(dtype)
        hidden_states = torch.matmul(probabilities, value).transpose(1, 2).reshape(batch, -1, heads * value.shape[-1])
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if spatial_shape is not None:
            hidden_states = hidden_states.transpose(1, 2).reshape(spatial_shape)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


class Attention(nn.Module):
    """diffusers' `Attention`: to_q / to_k / to_v / to_out, `heads`, `scale`, an optional group norm,
    and a processor called as `processor(attn, hidden_states, encoder_hidden_states=…,
    attention_mask=…, temb=…)` that `set_processor` swaps (models/export/precision.py relies on it)."""

    def __init__(self, query_dim: int, cross_attention_dim: Optional[int] = None, heads: int = 8, dim_head: int = 64, bias: bool = False,
                 upcast_attention: bool = False, upcast_softmax: bool = False, norm_num_groups: Optional[int] = None, eps: float = 1e-5,
                 residual_connection: bool = False, device=None):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.scale = dim_head**-0.5
        self.upcast_attention = upcast_attention
        self.upcast_softmax = upcast_softmax
        self.residual_connection = residual_connection
        self.rescale_output_factor = 1.0
        self.group_norm = nn.GroupNorm(norm_num_groups, query_dim, eps=eps, affine=True, device=device) if norm_num_groups else None
        self.spatial_norm = None
        self.norm_cross = None
        self.to_q = nn.Linear(query_dim, inner, bias=bias, device=device)
        self.to_k = nn.Linear(cross_attention_dim or query_dim, inner, bias=bias, device=device)
        self.to_v = nn.Linear(cross_attention_dim or query_dim, inner, bias=bias, device=device)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim, device=device), nn.Dropout(0.0)])
        self.set_processor(AttnProcessor())

    def set_processor(self, processor) -> None:
        self.processor = processor

    def forward(self, hidden_states: torch.Tensor, encoder_hidden_states: Optional[torch.Tensor] = None, attention_mask: Optional[torch.Tensor] = None,
                temb: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.processor(self, hidden_states, encoder_hidden_states=encoder_hidden_states, attention_mask=attention_mask, temb=temb)


def timestep_embedding(timesteps: torch.Tensor, channels: int, flip_sin_to_cos: bool, freq_shift: float) -> torch.Tensor:
    """diffusers' sinusoidal `Timesteps` projection, in float32 whatever the model's dtype."""
    half = channels // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / (half - freq_shift))
    angles = timesteps[:, None].float() * frequencies[None, :]
    sin, cos = torch.sin(angles), torch.cos(angles)
    return torch.cat([cos, sin] if flip_sin_to_cos else [sin, cos], dim=-1)


class TimestepEmbedding(nn.Module):
    """linear_1 → SiLU → linear_2 (diffusers' TimestepEmbedding; also the `projection` class embedding)."""

    def __init__(self, in_channels: int, channels: int, device=None):
        super().__init__()
        self.linear_1 = nn.Linear(in_channels, channels, device=device)
        self.act = nn.SiLU()
        self.linear_2 = nn.Linear(channels, channels, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(self.act(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    """GroupNorm → SiLU → conv, plus the time embedding when there is one, GroupNorm → SiLU → conv,
    and a 1×1 shortcut convolution when the channel count changes."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: Optional[int], groups: int, eps: float, device=None):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps, affine=True, device=device)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, device=device)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels, device=device) if temb_channels else None
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps, affine=True, device=device)
        self.dropout = nn.Dropout(0.0)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, device=device)
        self.nonlinearity = nn.SiLU()
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1, device=device) if in_channels != out_channels else None

    def forward(self, input_tensor: torch.Tensor, temb: Optional[torch.Tensor]) -> torch.Tensor:
        hidden = self.conv1(self.nonlinearity(self.norm1(input_tensor)))
        if self.time_emb_proj is not None:
            hidden = hidden + self.time_emb_proj(self.nonlinearity(temb))[:, :, None, None]
        hidden = self.conv2(self.dropout(self.nonlinearity(self.norm2(hidden))))
        shortcut = input_tensor if self.conv_shortcut is None else self.conv_shortcut(input_tensor)
        return shortcut + hidden


class Downsample2D(nn.Module):
    """A stride-2 3×3 convolution (diffusers names it `conv`, built with name="op")."""

    def __init__(self, channels: int, device=None):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1, device=device)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.conv(hidden_states)


class Upsample2D(nn.Module):
    """Nearest ×2, then a 3×3 convolution. Like diffusers, bfloat16 is interpolated in float32
    (torch's nearest-neighbour kernel lacks bfloat16)."""

    def __init__(self, channels: int, device=None):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, device=device)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        dtype = hidden_states.dtype
        if dtype == torch.bfloat16:
            hidden_states = hidden_states.float()
        hidden_states = F.interpolate(hidden_states, scale_factor=2.0, mode="nearest").to(dtype)
        return self.conv(hidden_states)
