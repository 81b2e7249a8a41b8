"""The configurations of the real components, in the field names of their config.json files.

Each dataclass holds the fields of a diffusers / transformers config that change the architecture
(and the few the exporter reads); its defaults are the library's own, so a config dict that omits a
field builds what the library would build (`from_dict`). `TWIN_CONFIGS` lists, per variant, what
the Hugging Face repositories configure (docs/real-presets.md names the repositories): the SD 2.1
UNet with a `projection` class embedding of 2·D inputs, the SD 2.x VAE, the unCLIP checkpoint's
image tower, the text tower of the same CLIP space, and the checkpoint's 23-layer prompt encoder.
The parameter counts in tests/test_parameters.py check these numbers against the published sizes.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Dict, Tuple

SD_DOWN_BLOCKS = ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D")
SD_UP_BLOCKS = ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D")


def _from_dict(cls, values: Dict[str, Any]):
    known = {f.name for f in fields(cls)}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class UNetConfig:
    """diffusers' UNet2DConditionModel config (the fields an SD 2.x unCLIP UNet sets)."""

    sample_size: int = 96
    in_channels: int = 4
    out_channels: int = 4
    down_block_types: Tuple[str, ...] = SD_DOWN_BLOCKS
    up_block_types: Tuple[str, ...] = SD_UP_BLOCKS
    block_out_channels: Tuple[int, ...] = (320, 640, 1280, 1280)
    layers_per_block: int = 2
    # diffusers reads this as the number of heads per level (its long-standing naming quirk), so
    # SD 2.x's 5/10/20/20 gives 64 channels per head at every level.
    attention_head_dim: Tuple[int, ...] = (5, 10, 20, 20)
    cross_attention_dim: int = 1024
    norm_num_groups: int = 32
    norm_eps: float = 1e-5
    use_linear_projection: bool = True
    upcast_attention: bool = True
    flip_sin_to_cos: bool = True
    freq_shift: int = 0
    class_embed_type: str = "projection"
    projection_class_embeddings_input_dim: int = 2048

    from_dict = classmethod(_from_dict)


@dataclass(frozen=True)
class VaeConfig:
    """diffusers' AutoencoderKL config (SD 2.x's VAE)."""

    latent_channels: int = 4
    out_channels: int = 3
    block_out_channels: Tuple[int, ...] = (128, 256, 512, 512)
    up_block_types: Tuple[str, ...] = ("UpDecoderBlock2D",) * 4
    layers_per_block: int = 2
    norm_num_groups: int = 32
    sample_size: int = 768
    scaling_factor: float = 0.18215

    from_dict = classmethod(_from_dict)


@dataclass(frozen=True)
class ClipTextConfig:
    """transformers' CLIPTextConfig, with its defaults (projection_dim 512 among them)."""

    vocab_size: int = 49408
    hidden_size: int = 512
    intermediate_size: int = 2048
    projection_dim: int = 512
    num_hidden_layers: int = 12
    num_attention_heads: int = 8
    max_position_embeddings: int = 77
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5
    # 2 is the value of the 2022 configs these repositories carry; transformers then pools at the
    # largest token id (the end-of-text token in CLIP's vocabulary) instead of searching for eos.
    eos_token_id: int = 2

    from_dict = classmethod(_from_dict)


@dataclass(frozen=True)
class ClipVisionConfig:
    """transformers' CLIPVisionConfig, with its defaults."""

    hidden_size: int = 768
    intermediate_size: int = 3072
    projection_dim: int = 512
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    num_channels: int = 3
    image_size: int = 224
    patch_size: int = 32
    hidden_act: str = "quick_gelu"
    layer_norm_eps: float = 1e-5

    from_dict = classmethod(_from_dict)


@dataclass(frozen=True)
class TwinConfigs:
    unet: UNetConfig
    vae: VaeConfig
    clip_text: ClipTextConfig
    clip_image: ClipVisionConfig
    # The whole OpenCLIP ViT-H/14 text tower has 24 layers; SD 2.x's checkpoints store 23 of them as
    # `text_encoder` (load.py's PENULTIMATE_LAYER), which is what the twin prompt encoder has.
    prompt_encoder: ClipTextConfig


VIT_L_IMAGE = ClipVisionConfig(hidden_size=1024, intermediate_size=4096, projection_dim=768, num_hidden_layers=24, num_attention_heads=16, patch_size=14)
VIT_L_TEXT = ClipTextConfig(hidden_size=768, intermediate_size=3072, projection_dim=768, num_hidden_layers=12, num_attention_heads=12)
VIT_H_IMAGE = ClipVisionConfig(hidden_size=1280, intermediate_size=5120, projection_dim=1024, num_hidden_layers=32, num_attention_heads=16, patch_size=14,
                               hidden_act="gelu")
VIT_H_TEXT = ClipTextConfig(hidden_size=1024, intermediate_size=4096, projection_dim=1024, num_hidden_layers=24, num_attention_heads=16, hidden_act="gelu")
SD2_PROMPT_ENCODER = replace(VIT_H_TEXT, num_hidden_layers=23, projection_dim=512)

TWIN_CONFIGS = {
    "unclip-l": TwinConfigs(unet=UNetConfig(projection_class_embeddings_input_dim=1536), vae=VaeConfig(), clip_text=VIT_L_TEXT, clip_image=VIT_L_IMAGE,
                            prompt_encoder=SD2_PROMPT_ENCODER),
    "unclip-h": TwinConfigs(unet=UNetConfig(projection_class_embeddings_input_dim=2048), vae=VaeConfig(), clip_text=VIT_H_TEXT, clip_image=VIT_H_IMAGE,
                            prompt_encoder=SD2_PROMPT_ENCODER),
}

# Widths divide by this at most: every channel count stays a multiple of its head count and of
# its GroupNorm's groups (32 / width), so the layer and head structure is untouched.
WIDTH_DIVISORS = (1, 2, 4, 8)


def narrowed(configs: TwinConfigs, divisor: int) -> TwinConfigs:
    """The same architecture with every hidden width divided by `divisor`: layer counts, head counts,
    vocabulary, image and patch sizes and the embedding dimension D (projection_dim, 2·D class
    labels) stay; GroupNorms keep 32 / divisor groups so each group has as many channels as before."""
    if divisor not in WIDTH_DIVISORS:
        raise ValueError(f"width divisor must be one of {WIDTH_DIVISORS}, got {divisor}")
    if divisor == 1:
        return configs
    prompt = replace(configs.prompt_encoder, hidden_size=configs.prompt_encoder.hidden_size // divisor,
                     intermediate_size=configs.prompt_encoder.intermediate_size // divisor)
    return replace(
        configs,
        unet=replace(configs.unet, block_out_channels=tuple(c // divisor for c in configs.unet.block_out_channels), norm_num_groups=32 // divisor,
                     cross_attention_dim=prompt.hidden_size),
        vae=replace(configs.vae, block_out_channels=tuple(c // divisor for c in configs.vae.block_out_channels), norm_num_groups=32 // divisor),
        clip_text=replace(configs.clip_text, hidden_size=configs.clip_text.hidden_size // divisor, intermediate_size=configs.clip_text.intermediate_size // divisor),
        clip_image=replace(configs.clip_image, hidden_size=configs.clip_image.hidden_size // divisor,
                           intermediate_size=configs.clip_image.intermediate_size // divisor),
        prompt_encoder=prompt,
    )
