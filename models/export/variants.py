"""The two Stable unCLIP presets Penumbra exports, as data (docs/model-contract.md, "The presets there are")."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    name: str
    title: str
    description: str
    # The unCLIP checkpoint: UNet, VAE, prompt encoder, image tower, normalizer, schedulers.
    checkpoint: str
    # Where the text tower of the same CLIP space lives (the unCLIP checkpoints ship only its image tower).
    clip_text_source: str
    embedding_dim: int
    embedding_space: str


UNCLIP_L = Variant(
    name="unclip-l",
    title="Stable unCLIP 2.1 small (CLIP ViT-L/14)",
    description="stabilityai/stable-diffusion-2-1-unclip-small decoding CLIP ViT-L/14 embeddings (D = 768), with a ProbVLM adapter trained in that space.",
    checkpoint="stabilityai/stable-diffusion-2-1-unclip-small",
    clip_text_source="openai/clip-vit-large-patch14",
    embedding_dim=768,
    embedding_space="clip-vit-l-14",
)

UNCLIP_H = Variant(
    name="unclip-h",
    title="Stable unCLIP 2.1 (OpenCLIP ViT-H/14)",
    description="stabilityai/stable-diffusion-2-1-unclip decoding OpenCLIP ViT-H/14 embeddings (D = 1024), with a ProbVLM adapter trained in that space.",
    checkpoint="stabilityai/stable-diffusion-2-1-unclip",
    clip_text_source="laion/CLIP-ViT-H-14-laion2B-s32B-b79K",
    embedding_dim=1024,
    embedding_space="openclip-vit-h-14",
)

VARIANTS = {v.name: v for v in (UNCLIP_L, UNCLIP_H)}
