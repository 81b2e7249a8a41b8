"""Export precisions, and the attention patch that keeps a half-precision UNet from overflowing.

SD 2.x's UNet produces infinities in QKᵀ and softmax when they run in float16 (the images come out
black), which is why its diffusers config sets `upcast_attention`. diffusers' default processor on
torch 2 (scaled_dot_product_attention) ignores that flag and, exported to ONNX, computes the
scores in float16. `Float32Attention` replaces the processor of every diffusers `Attention` module:
QKᵀ, the scale, the mask and the softmax run in float32; the probabilities go back to the value's
dtype for the product with V (they lie in [0, 1], so float16 holds them).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass(frozen=True)
class Precision:
    name: str
    # dtype of the UNet's and the VAE decoder's weights; CLIP towers and the prompt encoder stay
    # float32 in every precision (they run once per run, and identical embeddings let the fp32 and
    # fp16 presets of one variant share an adapter).
    dtype: torch.dtype
    device: str

    @property
    def halves_decoder(self) -> bool:
        return self.dtype != torch.float32


PRECISIONS = {
    "fp32": Precision("fp32", torch.float32, "cpu"),
    # torch's CPU kernels lack float16 (torch 1.13 has no float16 conv, matmul, norm or softmax on
    # CPU), and tracing runs the model, so the float16 export traces on CUDA.
    "fp16": Precision("fp16", torch.float16, "cuda"),
}


def is_diffusers_attention(module: torch.nn.Module) -> bool:
    """diffusers' `Attention`: projections to_q/to_k/to_v/to_out and a swappable processor."""
    return all(hasattr(module, name) for name in ("to_q", "to_k", "to_v", "to_out", "heads", "scale")) and callable(getattr(module, "set_processor", None))


def float32_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, heads: int, scale: float,
                      mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """softmax(QKᵀ·scale + mask)·V over `heads` heads of [batch, tokens, heads·head_dim] tensors, the
    scores and softmax in float32; `mask` is additive, [batch, heads, tokens or 1, key tokens]."""
    batch, tokens, width = query.shape
    head_dim = width // heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], t.shape[1], heads, head_dim).transpose(1, 2)

    scores = torch.matmul(split(query).float(), split(key).float().transpose(-1, -2)) * scale
    if mask is not None:
        scores = scores + mask.float()
    probabilities = scores.softmax(dim=-1).to(value.dtype)
    return torch.matmul(probabilities, split(value)).transpose(1, 2).reshape(batch, tokens, width)


class AttentionProcessor:
    """What a diffusers attention processor does around the attention itself (same call signature):
    the spatial and group norms, the projections, the output projection and the residual.
    Subclasses say how the projected query, key and value are attended (`attend`)."""

    def attend(self, attn, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: Optional[torch.Tensor] = None,
                 attention_mask: Optional[torch.Tensor] = None, temb: Optional[torch.Tensor] = None, *args, **kwargs) -> torch.Tensor:
        residual = hidden_states
        if getattr(attn, "spatial_norm", None) is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        spatial_shape = None
        if hidden_states.ndim == 4:  # the VAE's mid-block attends over pixels of a feature map
            batch, channels, height, width = hidden_states.shape
            spatial_shape = (batch, channels, height, width)
            hidden_states = hidden_states.view(batch, channels, height * width).transpose(1, 2)
        if getattr(attn, "group_norm", None) is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)

        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if encoder_hidden_states is not None and getattr(attn, "norm_cross", None):
            context = attn.norm_encoder_hidden_states(context)
        query, key, value = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)
        hidden_states = self.attend(attn, query, key, value, attention_mask)

        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)  # dropout
        if spatial_shape is not None:
            hidden_states = hidden_states.transpose(-1, -2).reshape(*spatial_shape)
        if getattr(attn, "residual_connection", False):
            hidden_states = hidden_states + residual
        return hidden_states / getattr(attn, "rescale_output_factor", 1.0)


class Float32Attention(AttentionProcessor):
    """Attention written out op by op, with QKᵀ, the scale, the mask and the softmax in float32."""

    def attend(self, attn, query, key, value, attention_mask):
        mask = None
        if attention_mask is not None:
            batch = query.shape[0]
            mask = attn.prepare_attention_mask(attention_mask, key.shape[1], batch)
            mask = mask.view(batch, attn.heads, -1, mask.shape[-1])
        return float32_attention(query, key, value, attn.heads, attn.scale, mask)


def install_processor(model: torch.nn.Module, processor: AttentionProcessor) -> int:
    """Installs `processor` in every diffusers Attention module of `model`; returns how many."""
    patched = 0
    for module in model.modules():
        if is_diffusers_attention(module):
            module.set_processor(processor)
            patched += 1
    return patched


def keep_attention_in_float32(model: torch.nn.Module) -> int:
    """Installs `Float32Attention` in every diffusers Attention module of `model`; returns how many."""
    return install_processor(model, Float32Attention())
