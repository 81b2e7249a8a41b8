"""Attention exported as onnxruntime's fused `com.microsoft.MultiHeadAttention` contrib op.

Written out as separate ops (QKᵀ, scale, softmax, ·V), attention at 768² materializes the whole
`[batch, heads, 9216, 9216]` score tensor, its softmax and their casts, and onnxruntime fuses none
of it. As one MultiHeadAttention node, onnxruntime's kernels compute it in tiles (CPU) or with its
flash / memory-efficient kernels (CUDA), which accumulate the softmax in float32 whatever the
tensors' dtype: what SD 2.x needs to stay finite in float16, without float32 score tensors in the
graph.

`FusedAttention` replaces the processor of every diffusers-style `Attention` module (the interface
`precision.is_diffusers_attention` checks). Run in torch (while tracing, or in a test), it computes
the same attention with the scores and softmax in float32 (`precision.Float32Attention`'s maths);
exported, the projections stay ordinary MatMuls and the attention between them is one node.
"""
from __future__ import annotations

import torch

from .precision import AttentionProcessor, float32_attention, install_processor

DOMAIN = "com.microsoft"
# The contrib ops' opset (all of com.microsoft is version 1).
DOMAIN_VERSION = 1


class _MultiHeadAttention(torch.autograd.Function):
    """Attention of [batch, tokens, heads·head_dim] tensors: float32_attention in torch, one MultiHeadAttention node exported."""

    @staticmethod
    def forward(ctx, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, heads: int, scale: float) -> torch.Tensor:
        return float32_attention(query, key, value, heads, scale)

    @staticmethod
    def symbolic(g, query, key, value, heads: int, scale: float):
        output = g.op(f"{DOMAIN}::MultiHeadAttention", query, key, value, num_heads_i=heads, scale_f=scale)
        # The exporter cannot infer a contrib op's output: it has the query's dtype and shape.
        output.setType(query.type())
        return output


class FusedAttention(AttentionProcessor):
    """Attention that exports as one MultiHeadAttention node between the projections."""

    def attend(self, attn, query, key, value, attention_mask):
        if attention_mask is not None:
            # unCLIP's UNet and VAE never pass one; the fused node would need its key_padding_mask form.
            raise ValueError("FusedAttention exports attention without a mask; this module was given one")
        return _MultiHeadAttention.apply(query, key, value, int(attn.heads), float(attn.scale))


def fuse_attention(model: torch.nn.Module) -> int:
    """Installs `FusedAttention` in every diffusers Attention module of `model`; returns how many."""
    return install_processor(model, FusedAttention())
