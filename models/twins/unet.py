"""A twin of diffusers 0.27's `UNet2DConditionModel` in the Stable unCLIP 2.1 layout.

Same module tree and parameter names (conv_in, time_embedding, class_embedding, down_blocks,
mid_block, up_blocks, conv_norm_out, conv_out; Transformer2DModel with linear projections and
BasicTransformerBlocks of self-attention, cross-attention and a GEGLU feed-forward), so a real
checkpoint's state dict loads with strict=True; the call is diffusers' subset the exporter uses:
`unet(sample, timestep, encoder_hidden_states, class_labels=…, return_dict=False)[0]`.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .blocks import Attention, Downsample2D, ResnetBlock2D, TimestepEmbedding, Upsample2D, timestep_embedding
from .configs import UNetConfig

# Transformer2DModel's input GroupNorm uses this epsilon whatever the UNet's norm_eps.
TRANSFORMER_NORM_EPS = 1e-6


class GEGLU(nn.Module):
    def __init__(self, dim: int, inner: int, device=None):
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2, device=device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden, gate = self.proj(x).chunk(2, dim=-1)
        return hidden * F.gelu(gate)


class FeedForward(nn.Module):
    """net = [GEGLU, Dropout, Linear]: the names diffusers' state dicts use (ff.net.0.proj, ff.net.2)."""

    def __init__(self, dim: int, device=None):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, 4 * dim, device=device), nn.Dropout(0.0), nn.Linear(4 * dim, dim, device=device)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim: int, heads: int, head_dim: int, cross_attention_dim: int, upcast_attention: bool, device=None):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, device=device)
        self.attn1 = Attention(dim, heads=heads, dim_head=head_dim, upcast_attention=upcast_attention, device=device)
        self.norm2 = nn.LayerNorm(dim, device=device)
        self.attn2 = Attention(dim, cross_attention_dim=cross_attention_dim, heads=heads, dim_head=head_dim, upcast_attention=upcast_attention, device=device)
        self.norm3 = nn.LayerNorm(dim, device=device)
        self.ff = FeedForward(dim, device=device)

    def forward(self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = hidden_states + self.attn1(self.norm1(hidden_states))
        hidden_states = hidden_states + self.attn2(self.norm2(hidden_states), encoder_hidden_states=encoder_hidden_states)
        return hidden_states + self.ff(self.norm3(hidden_states))


class Transformer2DModel(nn.Module):
    """GroupNorm, linear proj_in over the pixels as tokens, one BasicTransformerBlock, proj_out, residual."""

    def __init__(self, heads: int, channels: int, config: UNetConfig, device=None):
        super().__init__()
        if not config.use_linear_projection:
            raise ValueError("the twin implements SD 2.x's linear projections only (use_linear_projection = true)")
        self.norm = nn.GroupNorm(config.norm_num_groups, channels, eps=TRANSFORMER_NORM_EPS, affine=True, device=device)
        self.proj_in = nn.Linear(channels, channels, device=device)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(channels, heads, channels // heads, config.cross_attention_dim, config.upcast_attention, device=device)])
        self.proj_out = nn.Linear(channels, channels, device=device)

    def forward(self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = hidden_states.shape
        residual = hidden_states
        tokens = self.norm(hidden_states).permute(0, 2, 3, 1).reshape(batch, height * width, channels)
        tokens = self.proj_in(tokens)
        for block in self.transformer_blocks:
            tokens = block(tokens, encoder_hidden_states)
        tokens = self.proj_out(tokens)
        return tokens.reshape(batch, height, width, channels).permute(0, 3, 1, 2).contiguous() + residual


def _resnet(config: UNetConfig, in_channels: int, out_channels: int, temb: int, device) -> ResnetBlock2D:
    return ResnetBlock2D(in_channels, out_channels, temb, config.norm_num_groups, config.norm_eps, device=device)


class DownBlock(nn.Module):
    """CrossAttnDownBlock2D (with `attentions`) or DownBlock2D (without): resnets, then a downsampler."""

    def __init__(self, config: UNetConfig, in_channels: int, out_channels: int, heads: int, temb: int, cross_attention: bool, add_downsample: bool, device=None):
        super().__init__()
        self.resnets = nn.ModuleList([_resnet(config, in_channels if i == 0 else out_channels, out_channels, temb, device) for i in range(config.layers_per_block)])
        self.attentions = nn.ModuleList([Transformer2DModel(heads, out_channels, config, device=device) for _ in range(config.layers_per_block)]) if cross_attention else None
        self.downsamplers = nn.ModuleList([Downsample2D(out_channels, device=device)]) if add_downsample else None

    def forward(self, hidden_states, temb, encoder_hidden_states) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        skips = []
        for i, resnet in enumerate(self.resnets):
            hidden_states = resnet(hidden_states, temb)
            if self.attentions is not None:
                hidden_states = self.attentions[i](hidden_states, encoder_hidden_states)
            skips.append(hidden_states)
        if self.downsamplers is not None:
            hidden_states = self.downsamplers[0](hidden_states)
            skips.append(hidden_states)
        return hidden_states, skips


class UpBlock(nn.Module):
    """CrossAttnUpBlock2D or UpBlock2D: each resnet takes the previous output concatenated with one skip."""

    def __init__(self, config: UNetConfig, in_channels: int, prev_output_channels: int, out_channels: int, heads: int, temb: int, cross_attention: bool,
                 add_upsample: bool, device=None):
        super().__init__()
        layers = config.layers_per_block + 1
        resnets = []
        for i in range(layers):
            skip_channels = in_channels if i == layers - 1 else out_channels
            resnet_in = prev_output_channels if i == 0 else out_channels
            resnets.append(_resnet(config, resnet_in + skip_channels, out_channels, temb, device))
        self.resnets = nn.ModuleList(resnets)
        self.attentions = nn.ModuleList([Transformer2DModel(heads, out_channels, config, device=device) for _ in range(layers)]) if cross_attention else None
        self.upsamplers = nn.ModuleList([Upsample2D(out_channels, device=device)]) if add_upsample else None

    def forward(self, hidden_states, skips: List[torch.Tensor], temb, encoder_hidden_states) -> torch.Tensor:
        for i, resnet in enumerate(self.resnets):
            hidden_states = resnet(torch.cat([hidden_states, skips.pop()], dim=1), temb)
            if self.attentions is not None:
                hidden_states = self.attentions[i](hidden_states, encoder_hidden_states)
        if self.upsamplers is not None:
            hidden_states = self.upsamplers[0](hidden_states)
        return hidden_states


class UNetMidBlock2DCrossAttn(nn.Module):
    def __init__(self, config: UNetConfig, channels: int, heads: int, temb: int, device=None):
        super().__init__()
        self.attentions = nn.ModuleList([Transformer2DModel(heads, channels, config, device=device)])
        self.resnets = nn.ModuleList([_resnet(config, channels, channels, temb, device) for _ in range(2)])

    def forward(self, hidden_states, temb, encoder_hidden_states) -> torch.Tensor:
        hidden_states = self.resnets[0](hidden_states, temb)
        return self.resnets[1](self.attentions[0](hidden_states, encoder_hidden_states), temb)


class UNet2DConditionModel(nn.Module):
    def __init__(self, config: UNetConfig, device=None):
        super().__init__()
        if config.class_embed_type != "projection":
            raise ValueError(f"the twin implements Stable unCLIP's projection class embedding, not {config.class_embed_type!r}")
        for types, allowed in ((config.down_block_types, {"CrossAttnDownBlock2D", "DownBlock2D"}), (config.up_block_types, {"CrossAttnUpBlock2D", "UpBlock2D"})):
            if not set(types) <= allowed:
                raise ValueError(f"block types {types} are not all among {sorted(allowed)}")
        self.config = config
        channels, heads = config.block_out_channels, config.attention_head_dim
        temb = 4 * channels[0]
        self.conv_in = nn.Conv2d(config.in_channels, channels[0], 3, padding=1, device=device)
        self.time_embedding = TimestepEmbedding(channels[0], temb, device=device)
        self.class_embedding = TimestepEmbedding(config.projection_class_embeddings_input_dim, temb, device=device)

        levels = len(channels)
        self.down_blocks = nn.ModuleList([
            DownBlock(config, channels[max(i - 1, 0)], channels[i], heads[i], temb, kind.startswith("CrossAttn"), add_downsample=i < levels - 1, device=device)
            for i, kind in enumerate(config.down_block_types)
        ])
        self.mid_block = UNetMidBlock2DCrossAttn(config, channels[-1], heads[-1], temb, device=device)
        up_channels, up_heads = channels[::-1], heads[::-1]
        self.up_blocks = nn.ModuleList([
            UpBlock(config, in_channels=up_channels[min(i + 1, levels - 1)], prev_output_channels=up_channels[max(i - 1, 0)], out_channels=up_channels[i],
                    heads=up_heads[i], temb=temb, cross_attention=kind.startswith("CrossAttn"), add_upsample=i < levels - 1, device=device)
            for i, kind in enumerate(config.up_block_types)
        ])
        self.conv_norm_out = nn.GroupNorm(config.norm_num_groups, channels[0], eps=config.norm_eps, device=device)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(channels[0], config.out_channels, 3, padding=1, device=device)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor, class_labels: Optional[torch.Tensor] = None,
                return_dict: bool = True):
        overall_factor = 2 ** (len(self.config.block_out_channels) - 1)
        if any(side % overall_factor for side in sample.shape[-2:]):
            raise ValueError(f"latent sides must be multiples of {overall_factor}, got {tuple(sample.shape[-2:])}")
        if class_labels is None:
            raise ValueError("class_labels are required: the projection class embedding conditions the UNet on the image embedding")
        timesteps = timestep if timestep.ndim else timestep[None]
        timesteps = timesteps.expand(sample.shape[0])
        t_emb = timestep_embedding(timesteps, self.config.block_out_channels[0], self.config.flip_sin_to_cos, self.config.freq_shift).to(sample.dtype)
        emb = self.time_embedding(t_emb) + self.class_embedding(class_labels).to(sample.dtype)

        hidden = self.conv_in(sample)
        skips = [hidden]
        for block in self.down_blocks:
            hidden, block_skips = block(hidden, emb, encoder_hidden_states)
            skips.extend(block_skips)
        hidden = self.mid_block(hidden, emb, encoder_hidden_states)
        for block in self.up_blocks:
            hidden = block(hidden, skips, emb, encoder_hidden_states)
        out = self.conv_out(self.conv_act(self.conv_norm_out(hidden)))
        return SimpleNamespace(sample=out) if return_dict else (out,)
