"""Tiny stand-ins with the call signatures of the real modules (diffusers UNet2DConditionModel and
AutoencoderKL, transformers CLIP towers), and a `Sources` built from them. Sizes are toy; the
module interfaces the exporter relies on are the real ones."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.export.sources import Sources, TokenizerFiles
from models.export.variants import Variant

REPO = Path(__file__).resolve().parents[3]
SHAPES_TOKENIZER = REPO / "models" / "shapes" / "tokenizer"
TOY_VARIANT = Variant(name="toy-unclip", title="Toy unCLIP", description="test stand-in", checkpoint="toy/unclip", clip_text_source="toy/clip",
                      embedding_dim=8, embedding_space="toy-8")
VOCAB, WIDTH, HIDDEN, CHANNELS = 1024, 16, 16, 16


class ToyAttention(nn.Module):
    """diffusers' `Attention` interface: projections, heads, scale and a swappable processor."""

    def __init__(self, query_dim, cross_attention_dim=None, heads=2, group_norm_groups=None, residual_connection=False):
        super().__init__()
        inner = query_dim
        self.heads = heads
        self.scale = (inner // heads) ** -0.5
        self.to_q = nn.Linear(query_dim, inner, bias=False)
        self.to_k = nn.Linear(cross_attention_dim or query_dim, inner, bias=False)
        self.to_v = nn.Linear(cross_attention_dim or query_dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, query_dim), nn.Dropout(0.0)])
        self.group_norm = nn.GroupNorm(group_norm_groups, query_dim) if group_norm_groups else None
        self.spatial_norm = None
        self.norm_cross = False
        self.residual_connection = residual_connection
        self.rescale_output_factor = 1.0
        self.processor = SoftmaxInWeightsDtype()

    def set_processor(self, processor):
        self.processor = processor

    def prepare_attention_mask(self, attention_mask, target_length, batch_size):
        return attention_mask.repeat_interleave(self.heads, dim=0)

    def forward(self, hidden_states, encoder_hidden_states=None, attention_mask=None, **kwargs):
        return self.processor(self, hidden_states, encoder_hidden_states=encoder_hidden_states, attention_mask=attention_mask, **kwargs)


class SoftmaxInWeightsDtype:
    """What diffusers' default processor amounts to: scores and softmax in the tensors' own dtype."""

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        residual = hidden_states
        spatial = hidden_states.shape if hidden_states.ndim == 4 else None
        if spatial is not None:
            hidden_states = hidden_states.flatten(2).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        b, h = hidden_states.shape[0], attn.heads
        q, k, v = (t.view(b, -1, h, t.shape[-1] // h).transpose(1, 2) for t in (attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)))
        scores = q @ k.transpose(-1, -2) * attn.scale
        if attention_mask is not None:
            scores = scores + attention_mask.view(b, h, -1, attention_mask.shape[-1])
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, -1, q.shape[-1] * h)
        out = attn.to_out[1](attn.to_out[0](out))
        if spatial is not None:
            out = out.transpose(1, 2).reshape(spatial)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def sinusoid(timesteps, dim):
    """diffusers' get_timestep_embedding (flip_sin_to_cos): float32 whatever the model's dtype."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    angles = timesteps.float()[:, None] * freqs[None, :]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


class ToyUNet(nn.Module):
    """UNet2DConditionModel's forward signature with a `projection` class embedding, one down and one
    up level, GroupNorm residual blocks, self- and cross-attention."""

    def __init__(self, in_channels=4, class_dim=16, cross_dim=HIDDEN):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, CHANNELS, 3, padding=1)
        self.time_embedding = nn.Sequential(nn.Linear(CHANNELS, 32), nn.SiLU(), nn.Linear(32, 32))
        self.class_embedding = nn.Sequential(nn.Linear(class_dim, 32), nn.SiLU(), nn.Linear(32, 32))
        self.emb_proj = nn.Linear(32, CHANNELS)
        self.norm = nn.GroupNorm(4, CHANNELS)
        self.down = nn.Conv2d(CHANNELS, CHANNELS, 3, stride=2, padding=1)
        self.attn1 = ToyAttention(CHANNELS)
        self.attn2 = ToyAttention(CHANNELS, cross_attention_dim=cross_dim)
        self.up = nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1)
        self.conv_out = nn.Conv2d(CHANNELS, in_channels, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, class_labels=None, return_dict=True):
        timesteps = timestep if timestep.ndim else timestep[None]
        timesteps = timesteps.expand(sample.shape[0])
        emb = self.time_embedding(sinusoid(timesteps, CHANNELS).to(sample.dtype))
        emb = emb + self.class_embedding(class_labels).to(sample.dtype)
        x = self.conv_in(sample)
        x = x + self.emb_proj(F.silu(emb))[:, :, None, None]
        skip = x
        x = self.down(F.silu(self.norm(x)))
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        tokens = tokens + self.attn1(tokens)
        tokens = tokens + self.attn2(tokens, encoder_hidden_states=encoder_hidden_states)
        x = tokens.transpose(1, 2).reshape(b, c, h, w)
        x = self.up(F.interpolate(x, scale_factor=2.0, mode="nearest")) + skip
        out = self.conv_out(F.silu(x))
        return (out,) if not return_dict else SimpleNamespace(sample=out)


class ToyVae(nn.Module):
    """AutoencoderKL's `decode(z, return_dict=False)[0]`: post-quant conv, a mid-block attention with
    group norm and residual (as in the VAE), upsampling ×4."""

    def __init__(self, latent_channels=4):
        super().__init__()
        self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1)
        self.conv_in = nn.Conv2d(latent_channels, CHANNELS, 3, padding=1)
        self.mid_attention = ToyAttention(CHANNELS, heads=1, group_norm_groups=4, residual_connection=True)
        self.conv_out = nn.Conv2d(CHANNELS, 3, 3, padding=1)

    def decode(self, z, return_dict=True):
        x = self.mid_attention(self.conv_in(self.post_quant_conv(z)))
        x = self.conv_out(F.interpolate(x, scale_factor=4.0, mode="nearest"))
        return (x,) if not return_dict else SimpleNamespace(sample=x)


class ToyTextTransformer(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.embeddings = nn.Embedding(VOCAB, WIDTH)
        self.layers = nn.ModuleList([nn.Linear(WIDTH, WIDTH) for _ in range(layers)])
        self.final_layer_norm = nn.LayerNorm(WIDTH)

    def forward(self, input_ids):
        states = [self.embeddings(input_ids)]
        for layer in self.layers:
            states.append(states[-1] + torch.tanh(layer(states[-1])))
        return states


class ToyClipTextModel(nn.Module):
    """transformers' CLIPTextModel: `hidden_states` with `output_hidden_states`, `text_model.final_layer_norm`."""

    def __init__(self, layers=3):
        super().__init__()
        self.text_model = ToyTextTransformer(layers)

    def forward(self, input_ids, output_hidden_states=False):
        states = self.text_model(input_ids)
        return SimpleNamespace(last_hidden_state=self.text_model.final_layer_norm(states[-1]), hidden_states=tuple(states) if output_hidden_states else None)


class ToyClipTextWithProjection(nn.Module):
    """CLIPTextModelWithProjection: `text_embeds` from the end-of-text token (the largest id, as transformers' argmax pooling)."""

    def __init__(self, dim):
        super().__init__()
        self.text_model = ToyTextTransformer(2)
        self.text_projection = nn.Linear(WIDTH, dim, bias=False)

    def forward(self, input_ids):
        states = self.text_model.final_layer_norm(self.text_model(input_ids)[-1])
        pooled = states[torch.arange(states.shape[0]), input_ids.argmax(dim=-1)]
        return SimpleNamespace(text_embeds=self.text_projection(pooled))


class ToyClipVisionWithProjection(nn.Module):
    """CLIPVisionModelWithProjection: `image_embeds`."""

    def __init__(self, dim):
        super().__init__()
        self.patches = nn.Conv2d(3, WIDTH, 4, stride=4)
        self.visual_projection = nn.Linear(WIDTH, dim, bias=False)

    def forward(self, pixel_values):
        return SimpleNamespace(image_embeds=self.visual_projection(self.patches(pixel_values).mean(dim=(2, 3))))


def toy_sources(tmp: Path, seed: int = 0) -> Sources:
    torch.manual_seed(seed)
    dim = TOY_VARIANT.embedding_dim
    clip_tokenizer = TokenizerFiles(SHAPES_TOKENIZER / "vocab.json", SHAPES_TOKENIZER / "merges.txt", bos=683, eos=684, pad=684)
    prompt_tokenizer = TokenizerFiles(SHAPES_TOKENIZER / "vocab.json", SHAPES_TOKENIZER / "merges.txt", bos=683, eos=684, pad=0)
    return Sources(
        unet=ToyUNet(class_dim=2 * dim), vae=ToyVae(), clip_text=ToyClipTextWithProjection(dim), clip_image=ToyClipVisionWithProjection(dim),
        prompt_encoder=ToyClipTextModel(layers=3), prompt_layers_to_skip=1,
        clip_tokenizer=clip_tokenizer, prompt_tokenizer=prompt_tokenizer,
        scheduler_config={"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
                          "prediction_type": "v_prediction", "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1},
        noising_scheduler_config={"_class_name": "DDPMScheduler", "beta_schedule": "squaredcos_cap_v2", "num_train_timesteps": 1000},
        normalizer_mean=torch.linspace(-0.5, 0.5, dim)[None], normalizer_std=torch.linspace(0.5, 1.5, dim)[None],
        clip_image_size=16, clip_image_mean=(0.48145466, 0.4578275, 0.40821073), clip_image_std=(0.26862954, 0.26130258, 0.27577711),
        image_size=32, latent_channels=4, latent_downsample=4, vae_scaling_factor=0.18215, prompt_hidden_size=WIDTH,
        provenance={"unclip": {"id": "toy/unclip", "revision": "0" * 40}, "clipText": {"id": "toy/clip", "revision": "1" * 40},
                    "clipImage": {"id": "toy/unclip", "subfolder": "image_encoder", "revision": "0" * 40}},
    )
