"""The shapes model family: CLIP-style dual encoder, VAE, unCLIP UNet, attribute checker.

The networks are small on purpose: `npm run train:shapes` trains all of them on 2 CPU cores (its stage
times are in models/shapes/build.json). The interfaces are those of the Stable unCLIP contract
(docs/model-contract.md), so one engine runs these and the real models.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

EMBED_DIM = 64
CONTEXT_LENGTH = 77


# ---- CLIP-style dual encoder -----------------------------------------------------------------


class ImageTower(nn.Module):
    """4 strided convolutions to 4x4, then a projection; position survives because nothing pools."""

    def __init__(self, dim: int = EMBED_DIM, width: int = 32):
        super().__init__()
        chans = [3, width, width * 2, width * 4, width * 4]
        layers = []
        for cin, cout in zip(chans, chans[1:]):
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1), nn.GroupNorm(8, cout), nn.SiLU()]
        self.features = nn.Sequential(*layers)
        self.project = nn.Sequential(nn.Flatten(), nn.Linear(chans[-1] * 16, 256), nn.SiLU(), nn.Linear(256, dim))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.project(self.features(pixel_values))


class TextTower(nn.Module):
    """A CLIP-style causal transformer; the pooled output is taken at the first end-of-text token."""

    def __init__(self, vocab_size: int, eos_id: int, dim: int = EMBED_DIM, width: int = 64, layers: int = 2, heads: int = 4):
        super().__init__()
        self.eos_id = eos_id
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Parameter(torch.randn(CONTEXT_LENGTH, width) * 0.01)
        layer = nn.TransformerEncoderLayer(width, heads, width * 4, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        # enable_nested_tensor=False keeps torch 1.13's nested-tensor fast path off: given a padding mask in eval
        # mode it returns fewer positions than it was fed, and pooling reads the end-of-text token's position.
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(width)
        self.projection = nn.Linear(width, dim, bias=False)
        self.register_buffer("causal_mask", torch.full((CONTEXT_LENGTH, CONTEXT_LENGTH), float("-inf")).triu(1), persistent=False)

    def hidden_states(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.token_embedding(input_ids) + self.position_embedding[: input_ids.shape[1]]
        n = input_ids.shape[1]
        x = self.transformer(x, mask=self.causal_mask[:n, :n])
        return self.final_norm(x)

    def pool(self, hidden: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        eos_index = (input_ids == self.eos_id).int().argmax(dim=-1)
        pooled = hidden[torch.arange(hidden.shape[0]), eos_index]
        return self.projection(pooled)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.pool(self.hidden_states(input_ids), input_ids)

    def embed_trimmed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Same result as forward: with a causal mask, columns after the last end-of-text never reach it."""
        last = int((input_ids == self.eos_id).int().argmax(dim=-1).max()) + 1
        return self.forward(input_ids[:, :last])


class ClipDual(nn.Module):
    def __init__(self, vocab_size: int, eos_id: int, dim: int = EMBED_DIM):
        super().__init__()
        self.image = ImageTower(dim)
        self.text = TextTower(vocab_size, eos_id, dim)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(1 / 0.07)))


# ---- VAE: 3x64x64 <-> 4x16x16 -----------------------------------------------------------------


def _norm_act(channels: int) -> list:
    return [nn.GroupNorm(8, channels), nn.SiLU()]


class VaeEncoder(nn.Module):
    def __init__(self, latent_channels: int = 4, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 4, stride=2, padding=1), *_norm_act(width),
            nn.Conv2d(width, width * 2, 4, stride=2, padding=1), *_norm_act(width * 2),
            nn.Conv2d(width * 2, width * 2, 3, padding=1), *_norm_act(width * 2),
            nn.Conv2d(width * 2, 2 * latent_channels, 1),
        )

    def forward(self, x):
        mean, logvar = self.net(x).chunk(2, dim=1)
        return mean, logvar.clamp(-20, 5)


class VaeDecoder(nn.Module):
    """Upsamples by pixel shuffle: a 64x64 full-width convolution costs more than all the rest on CPU."""

    def __init__(self, latent_channels: int = 4, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(latent_channels, width * 2, 3, padding=1), *_norm_act(width * 2),
            nn.Conv2d(width * 2, width * 2, 3, padding=1), *_norm_act(width * 2),
            nn.Conv2d(width * 2, width * 4, 3, padding=1), nn.PixelShuffle(2), *_norm_act(width),
            nn.Conv2d(width, width, 3, padding=1), *_norm_act(width),
            nn.Conv2d(width, 3 * 4, 3, padding=1), nn.PixelShuffle(2),
        )

    def forward(self, z):
        return self.net(z)


class Vae(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = VaeEncoder()
        self.decoder = VaeDecoder()


# ---- unCLIP UNet -------------------------------------------------------------------------------


def sinusoidal_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Cos-first sinusoidal embedding (flip_sin_to_cos, shift 0), as diffusers' Timesteps."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float().reshape(-1, 1) * freqs.reshape(1, -1)
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(8, cout)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class CrossAttention(nn.Module):
    """Optional self-attention over the feature map, then cross-attention to the prompt hidden states.

    Self-attention is kept to the coarsest maps: on 2 CPU cores it costs more than it buys at 8x8.
    """

    def __init__(self, channels: int, context_dim: int, heads: int = 4, self_attention: bool = True):
        super().__init__()
        self.norm_in = nn.GroupNorm(8, channels)
        self.self_attn = nn.MultiheadAttention(channels, heads, batch_first=True) if self_attention else None
        self.norm_cross = nn.LayerNorm(channels)
        self.cross_attn = nn.MultiheadAttention(channels, heads, kdim=context_dim, vdim=context_dim, batch_first=True)

    def forward(self, x, context):
        b, c, h, w = x.shape
        seq = self.norm_in(x).reshape(b, c, h * w).transpose(1, 2)
        if self.self_attn is not None:
            seq = seq + self.self_attn(seq, seq, seq, need_weights=False)[0]
        seq = seq + self.cross_attn(self.norm_cross(seq), context, context, need_weights=False)[0]
        return x + seq.transpose(1, 2).reshape(b, c, h, w)


class UnclipUNet(nn.Module):
    """UNet over 4x16x16 latents; class_labels = [noise-augmented image embedding, noise-level embedding]."""

    def __init__(self, latent_channels: int = 4, embed_dim: int = EMBED_DIM, context_dim: int = 64, widths=(32, 64, 96), dropout: float = 0.0):
        super().__init__()
        self.base = widths[0]
        emb_dim = widths[0] * 4
        self.time_embed = nn.Sequential(nn.Linear(widths[0], emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_embed = nn.Sequential(nn.Linear(2 * embed_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.conv_in = nn.Conv2d(latent_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.down_attn = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips = [widths[0]]
        cin = widths[0]
        for level, w in enumerate(widths):
            self.down.append(ResBlock(cin, w, emb_dim, dropout))
            self.down_attn.append(CrossAttention(w, context_dim, self_attention=level == len(widths) - 1) if level > 0 else nn.Identity())
            skips.append(w)
            cin = w
            if level < len(widths) - 1:
                self.downsample.append(nn.Conv2d(w, w, 3, stride=2, padding=1))
        self.mid1 = ResBlock(cin, cin, emb_dim, dropout)
        self.mid_attn = CrossAttention(cin, context_dim)
        self.mid2 = ResBlock(cin, cin, emb_dim, dropout)
        self.up = nn.ModuleList()
        self.up_attn = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, w in reversed(list(enumerate(widths))):
            self.up.append(ResBlock(cin + skips.pop(), w, emb_dim, dropout))
            self.up_attn.append(CrossAttention(w, context_dim, self_attention=level == len(widths) - 1) if level > 0 else nn.Identity())
            cin = w
            if level > 0:
                self.upsample.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w, w, 3, padding=1)))
        self.out = nn.Sequential(nn.GroupNorm(8, cin), nn.SiLU(), nn.Conv2d(cin, latent_channels, 3, padding=1))

    def forward(self, sample, timestep, encoder_hidden_states, class_labels):
        t = timestep.reshape(-1).expand(sample.shape[0]) if timestep.numel() == 1 else timestep.reshape(-1)
        emb = self.time_embed(sinusoidal_embedding(t, self.base)) + self.class_embed(class_labels)
        h = self.conv_in(sample)
        skips = [h]
        for level, (block, attn) in enumerate(zip(self.down, self.down_attn)):
            h = block(h, emb)
            if not isinstance(attn, nn.Identity):
                h = attn(h, encoder_hidden_states)
            skips.append(h)
            if level < len(self.downsample):
                h = self.downsample[level](h)
        # the first skip (conv_in output) pairs with the last up block
        skips = skips[1:]
        h = self.mid2(self.mid_attn(self.mid1(h, emb), encoder_hidden_states), emb)
        for i, (block, attn) in enumerate(zip(self.up, self.up_attn)):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if not isinstance(attn, nn.Identity):
                h = attn(h, encoder_hidden_states)
            if i < len(self.upsample):
                h = self.upsample[i](h)
        return self.out(h)


# ---- the independent judge of decoded images -----------------------------------------------------


class ShapeChecker(nn.Module):
    """A small CNN that names a picture's shape and size; trained apart from every decoder."""

    def __init__(self, n_shapes: int, n_sizes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 4, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.SiLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        )
        self.shape_head = nn.Linear(64, n_shapes)
        self.size_head = nn.Linear(64, n_sizes)

    def forward(self, x):
        f = self.features(x)
        return self.shape_head(f), self.size_head(f)
