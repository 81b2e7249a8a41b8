"""`twin_sources`: a `models.export.sources.Sources` made of twins, so the real exporter runs on them.

Everything the checkpoints would supply besides weights comes from this repository: the tokenizer
is the shapes preset's CLIP-format BPE vocabulary (its ids fit the twins' 49,408-token embeddings;
the CLIP tower pads with end-of-text, the prompt encoder with id 0, as SD 2.x's tokenizer does), the
schedulers are those the export tests use (PNDM with v-prediction; squaredcos_cap_v2 noising), and
the image normalizer is identity for unclip-h and seeded made-up statistics for unclip-l, whose real
normalizer is not identity.

Reductions, both optional: `latent` (latent side; images are 8× that) changes only spatial sizes,
and `width` divides every hidden width (configs.narrowed), keeping every layer and head.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from models.export.load import check_components, prompt_layers_to_skip
from models.export.sources import Sources, TokenizerFiles
from models.export.variants import VARIANTS

from .build import DOWNSAMPLE, build_twins, twin_configs

REPO = Path(__file__).resolve().parents[2]
SHAPES_TOKENIZER = REPO / "models" / "shapes" / "tokenizer"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SCHEDULER = {"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
             "prediction_type": "v_prediction", "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1}
NOISING_SCHEDULER = {"_class_name": "DDPMScheduler", "beta_schedule": "squaredcos_cap_v2", "num_train_timesteps": 1000}


def _shapes_tokenizer(pad_with_eos: bool) -> TokenizerFiles:
    vocab = json.loads((SHAPES_TOKENIZER / "vocab.json").read_text())
    bos, eos = vocab["<|startoftext|>"], vocab["<|endoftext|>"]
    return TokenizerFiles(SHAPES_TOKENIZER / "vocab.json", SHAPES_TOKENIZER / "merges.txt", bos=bos, eos=eos, pad=eos if pad_with_eos else 0)


def check_latent(latent: int) -> None:
    if latent < DOWNSAMPLE or latent % DOWNSAMPLE:
        raise ValueError(f"latent side must be a positive multiple of {DOWNSAMPLE} (the UNet halves it three times), got {latent}")


def twin_sources(variant: str, latent: int = 96, seed: int = 0, width: int = 1) -> Sources:
    check_latent(latent)
    configs = twin_configs(variant, latent, width)
    twins = build_twins(configs, seed)
    spec = VARIANTS[variant]
    check_components(spec, twins.unet, twins.clip_image, twins.clip_text, twins.prompt_encoder)
    D = spec.embedding_dim
    if variant == "unclip-h":
        mean, std = torch.zeros(1, D), torch.ones(1, D)
    else:
        generator = torch.Generator().manual_seed(seed)
        mean, std = torch.randn(1, D, generator=generator) * 0.3, torch.rand(1, D, generator=generator) * 0.5 + 0.5
    twin = {"seed": seed, "latent": latent, "width": width, "configs": "models/twins/configs.py"}
    return Sources(
        unet=twins.unet, vae=twins.vae, clip_text=twins.clip_text, clip_image=twins.clip_image, prompt_encoder=twins.prompt_encoder,
        prompt_layers_to_skip=prompt_layers_to_skip(configs.prompt_encoder.num_hidden_layers),
        clip_tokenizer=_shapes_tokenizer(pad_with_eos=True), prompt_tokenizer=_shapes_tokenizer(pad_with_eos=False),
        scheduler_config=dict(SCHEDULER), noising_scheduler_config=dict(NOISING_SCHEDULER), normalizer_mean=mean, normalizer_std=std,
        clip_image_size=configs.clip_image.image_size, clip_image_mean=CLIP_MEAN, clip_image_std=CLIP_STD,
        image_size=latent * DOWNSAMPLE, latent_channels=configs.unet.in_channels, latent_downsample=DOWNSAMPLE,
        vae_scaling_factor=configs.vae.scaling_factor, prompt_hidden_size=configs.prompt_encoder.hidden_size,
        provenance={
            "twin": twin,
            "unclip": {"id": f"twin of {spec.checkpoint}", **twin},
            "clipText": {"id": f"twin of {spec.clip_text_source}", **twin},
            "clipImage": {"id": f"twin of {spec.checkpoint}", "subfolder": "image_encoder", **twin},
            "promptEncoder": {"id": f"twin of {spec.checkpoint}", "subfolder": "text_encoder", "layers": configs.prompt_encoder.num_hidden_layers, **twin},
        },
    )
