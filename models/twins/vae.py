"""A twin of the part of diffusers 0.27's `AutoencoderKL` the exporter uses: `post_quant_conv` and
the `decoder` (conv_in, a mid block of two resnets around one single-head attention, four
UpDecoderBlock2Ds, conv_norm_out, conv_out), called as `vae.decode(latents, return_dict=False)[0]`.

The encoder and `quant_conv` are left out: decoding never runs them. A real checkpoint's state dict
therefore loads with strict=True once its `encoder.*` and `quant_conv.*` entries are dropped. The names are those of diffusers' module, which renames the attention
weights of older VAE files (query/key/value/proj_attn) to to_q/to_k/to_v/to_out.0 when it loads them.
"""
from __future__ import annotations

from types import SimpleNamespace
import torch
import torch.nn as nn

from .blocks import Attention, ResnetBlock2D, Upsample2D
from .configs import VaeConfig

# diffusers' VAE decoder hard-codes this epsilon in its resnets, attention and output norm.
EPS = 1e-6


class UNetMidBlock2D(nn.Module):
    def __init__(self, channels: int, groups: int, device=None):
        super().__init__()
        # One head as wide as the block (attention_head_dim = the channel count); the softmax upcast
        # is diffusers' setting for this block.
        self.attentions = nn.ModuleList([Attention(channels, heads=1, dim_head=channels, bias=True, upcast_softmax=True, norm_num_groups=groups, eps=EPS,
                                                   residual_connection=True, device=device)])
        self.resnets = nn.ModuleList([ResnetBlock2D(channels, channels, None, groups, EPS, device=device) for _ in range(2)])

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        hidden_states = self.resnets[0](hidden_states, None)
        return self.resnets[1](self.attentions[0](hidden_states), None)


class UpDecoderBlock2D(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, layers: int, groups: int, add_upsample: bool, device=None):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(in_channels if i == 0 else out_channels, out_channels, None, groups, EPS, device=device) for i in range(layers)])
        self.upsamplers = nn.ModuleList([Upsample2D(out_channels, device=device)]) if add_upsample else None

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        for resnet in self.resnets:
            hidden_states = resnet(hidden_states, None)
        if self.upsamplers is not None:
            hidden_states = self.upsamplers[0](hidden_states)
        return hidden_states


class Decoder(nn.Module):
    def __init__(self, config: VaeConfig, device=None):
        super().__init__()
        if set(config.up_block_types) != {"UpDecoderBlock2D"}:
            raise ValueError(f"the twin decoder implements UpDecoderBlock2D only, got {config.up_block_types}")
        channels = config.block_out_channels[::-1]
        self.conv_in = nn.Conv2d(config.latent_channels, channels[0], 3, padding=1, device=device)
        self.mid_block = UNetMidBlock2D(channels[0], config.norm_num_groups, device=device)
        self.up_blocks = nn.ModuleList([
            UpDecoderBlock2D(channels[max(i - 1, 0)], channels[i], config.layers_per_block + 1, config.norm_num_groups, add_upsample=i < len(channels) - 1, device=device)
            for i in range(len(channels))
        ])
        self.conv_norm_out = nn.GroupNorm(config.norm_num_groups, channels[-1], eps=EPS, device=device)
        self.conv_act = nn.SiLU()
        self.conv_out = nn.Conv2d(channels[-1], config.out_channels, 3, padding=1, device=device)

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        sample = self.mid_block(self.conv_in(sample))
        # diffusers runs the up blocks in their own parameters' dtype.
        sample = sample.to(next(iter(self.up_blocks.parameters())).dtype)
        for block in self.up_blocks:
            sample = block(sample)
        return self.conv_out(self.conv_act(self.conv_norm_out(sample)))


class AutoencoderKL(nn.Module):
    def __init__(self, config: VaeConfig, device=None):
        super().__init__()
        self.config = config
        self.post_quant_conv = nn.Conv2d(config.latent_channels, config.latent_channels, 1, device=device)
        self.decoder = Decoder(config, device=device)

    def decode(self, z: torch.Tensor, return_dict: bool = True):
        decoded = self.decoder(self.post_quant_conv(z))
        return SimpleNamespace(sample=decoded) if return_dict else (decoded,)

