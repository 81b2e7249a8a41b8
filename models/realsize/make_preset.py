"""A synthetic preset with the real Stable unCLIP presets' exact signatures and tiny random networks.

`unclip-l` (D = 768) and `unclip-h` (D = 1024) cannot be downloaded here, but the engine must still be
proven at their sizes: 768×768 images, 4×96×96 latents, 77×1024 prompt hidden states, 224×224 CLIP
input, a UNet with class_labels [B, 2D] and float16 inputs (or float32 ones, --unet-io). Every network below is a few seeded layers, so the
folder is a few MB, builds in seconds and decodes on a CPU; its images are noise by design.

    /usr/bin/python3 -m models.realsize.make_preset --out DIR [--variant l|h] [--unet-io float16|float32]
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.training.preset_io import OPSET, export_onnx, file_entry, floats, save

REPO = Path(__file__).resolve().parents[2]
SHAPES_TOKENIZER = REPO / "models" / "shapes" / "tokenizer"

CONTEXT_LENGTH = 77
PROMPT_HIDDEN = 1024  # OpenCLIP ViT-H text tower, penultimate layer: both real presets
IMAGE_SIZE = 768
CLIP_SIZE = 224
LATENT_CHANNELS = 4
DOWNSAMPLE = 8
LATENT_SIDE = IMAGE_SIZE // DOWNSAMPLE
SEED = 20240501

# What each real preset is, and what this synthetic one stands in for.
VARIANTS: Dict[str, Dict] = {
    "l": {"dim": 768, "space": "clip-vit-l-14", "checkpoint": "stabilityai/stable-diffusion-2-1-unclip-small", "identityNormalizer": False},
    "h": {"dim": 1024, "space": "openclip-vit-h-14", "checkpoint": "stabilityai/stable-diffusion-2-1-unclip", "identityNormalizer": True},
}

BATCH = {0: "batch"}
NARROW = 16  # the width every tiny network works in


class TextTower(nn.Module):
    """input_ids [B,77] → text_embeds [B,D]: token embeddings, mean over tokens, a projection."""

    def __init__(self, vocab: int, dim: int):
        super().__init__()
        self.tokens = nn.Embedding(vocab, NARROW)
        self.projection = nn.Linear(NARROW, dim)

    def forward(self, input_ids):
        return self.projection(self.tokens(input_ids).mean(dim=1))


class ImageTower(nn.Module):
    """pixel_values [B,3,224,224] → image_embeds [B,D]: 16×16 average pooling, then a projection."""

    def __init__(self, dim: int):
        super().__init__()
        self.projection = nn.Linear(3 * (CLIP_SIZE // 16) ** 2, dim)

    def forward(self, pixel_values):
        return self.projection(F.avg_pool2d(pixel_values, 16).flatten(1))


class Adapter(nn.Module):
    """embedding [B,D] → mu, one_over_alpha, beta [B,D]; ProbVLM's heads, through a narrow bottleneck."""

    def __init__(self, dim: int):
        super().__init__()
        self.hidden = nn.Linear(dim, NARROW)
        self.mu = nn.Linear(NARROW, dim)
        self.one_over_alpha = nn.Linear(NARROW, dim)
        self.beta = nn.Linear(NARROW, dim)

    def forward(self, embedding):
        h = torch.relu(self.hidden(embedding))
        # Offsets keep the random heads in the range trained adapters produce (α⁻¹ ~ 1, β ~ 2), so sampling is well behaved.
        return self.mu(h), torch.relu(self.one_over_alpha(h)) + 1.0, torch.relu(self.beta(h)) + 1.5


class PromptEncoder(nn.Module):
    """input_ids [B,77] → last_hidden_state [B,77,1024]."""

    def __init__(self, vocab: int):
        super().__init__()
        self.tokens = nn.Embedding(vocab, NARROW)
        self.positions = nn.Parameter(torch.randn(CONTEXT_LENGTH, NARROW) * 0.02)
        self.widen = nn.Linear(NARROW, PROMPT_HIDDEN)

    def forward(self, input_ids):
        return self.widen(self.tokens(input_ids) + self.positions)


class RealSizeUNet(nn.Module):
    """
    A graph with the Stable unCLIP UNet's signature: sample, encoder_hidden_states and class_labels
    [B,2D] in `io_dtype`, timestep int64 [B], out_sample in `io_dtype`. float16 stands for exports
    whose float16 inputs the engine converts at every step; float32 for models.export's, which cast
    to the weights' dtype inside the graph. It computes in float32 inside, as GPU sets keep attention
    in fp32, and because onnxruntime's CPU provider has no float16 convolution.
    """

    def __init__(self, dim: int, io_dtype: torch.dtype):
        super().__init__()
        self.io_dtype = io_dtype
        self.class_embedding = nn.Linear(2 * dim, NARROW)
        self.context = nn.Linear(PROMPT_HIDDEN, NARROW)
        self.time = nn.Linear(1, NARROW)
        self.conv_in = nn.Conv2d(LATENT_CHANNELS, NARROW, 3, padding=1)
        self.conv_out = nn.Conv2d(NARROW, LATENT_CHANNELS, 3, padding=1)

    def forward(self, sample, timestep, encoder_hidden_states, class_labels):
        t = (timestep.float() / 1000.0).reshape(-1, 1)
        condition = self.class_embedding(class_labels.float()) + self.context(encoder_hidden_states.float().mean(dim=1)) + self.time(t)
        h = F.silu(self.conv_in(sample.float()) + condition[:, :, None, None])
        return (self.conv_out(h) * 0.1).to(self.io_dtype)


class VaeDecoder(nn.Module):
    """latent_sample [B,4,96,96] → sample [B,3,768,768] in [-1,1]: a 1×1 convolution and an 8× pixel shuffle."""

    def __init__(self):
        super().__init__()
        self.to_pixels = nn.Conv2d(LATENT_CHANNELS, 3 * DOWNSAMPLE * DOWNSAMPLE, 1)

    def forward(self, latent_sample):
        return torch.tanh(F.pixel_shuffle(self.to_pixels(latent_sample), DOWNSAMPLE))


def _quantiles(generator: torch.Generator, centre: float) -> list:
    """101 ascending reference quantiles of a made-up uncertainty scalar around `centre`."""
    values = (torch.randn(4096, generator=generator) * 0.1 * centre + centre).abs()
    return floats(torch.quantile(values, torch.linspace(0, 1, 101)))


UNET_IO = {"float16": torch.float16, "float32": torch.float32}


def build(out: Path, variant: str = "l", unet_io: str = "float16") -> Dict:
    """Writes the preset folder `out` (created or overwritten file by file) and returns its preset.json."""
    spec = VARIANTS[variant]
    io_dtype = UNET_IO[unet_io]
    dim = spec["dim"]
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    out.mkdir(parents=True, exist_ok=True)

    shutil.copytree(SHAPES_TOKENIZER, out / "tokenizer", dirs_exist_ok=True, ignore=shutil.ignore_patterns("reference-ids.json"))
    vocab = json.loads((out / "tokenizer" / "vocab.json").read_text())
    vocab_size = max(vocab.values()) + 1
    bos, eos = vocab["<|startoftext|>"], vocab["<|endoftext|>"]

    ids = torch.randint(0, vocab_size, (2, CONTEXT_LENGTH), generator=generator)
    embedding = torch.randn(2, dim, generator=generator)
    latents = torch.randn(2, LATENT_CHANNELS, LATENT_SIDE, LATENT_SIDE, generator=generator)
    pixels = torch.randn(2, 3, CLIP_SIZE, CLIP_SIZE, generator=generator)
    hidden = torch.randn(2, CONTEXT_LENGTH, PROMPT_HIDDEN, generator=generator)
    class_labels = torch.randn(2, 2 * dim, generator=generator)
    timestep = torch.tensor([501, 501], dtype=torch.int64)

    exports = {
        "clipText": ("clip_text.onnx", TextTower(vocab_size, dim), (ids,), ["input_ids"], ["text_embeds"]),
        "clipImage": ("clip_image.onnx", ImageTower(dim), (pixels,), ["pixel_values"], ["image_embeds"]),
        "adapterText": ("adapter_text.onnx", Adapter(dim), (embedding,), ["embedding"], ["mu", "one_over_alpha", "beta"]),
        "adapterImage": ("adapter_image.onnx", Adapter(dim), (embedding,), ["embedding"], ["mu", "one_over_alpha", "beta"]),
        "promptEncoder": ("prompt_encoder.onnx", PromptEncoder(vocab_size), (ids,), ["input_ids"], ["last_hidden_state"]),
        "unet": ("unet.onnx", RealSizeUNet(dim, io_dtype), (latents.to(io_dtype), timestep, hidden.to(io_dtype), class_labels.to(io_dtype)),
                 ["sample", "timestep", "encoder_hidden_states", "class_labels"], ["out_sample"]),
        "vaeDecoder": ("vae_decoder.onnx", VaeDecoder(), (latents,), ["latent_sample"], ["sample"]),
    }
    files = {}
    for key, (name, module, args, inputs, outputs) in exports.items():
        with torch.no_grad():
            export_onnx(module, args, out / name, inputs, outputs, {tensor: BATCH for tensor in inputs + outputs})
        files[key] = file_entry(out, name)

    if spec["identityNormalizer"]:
        normalizer_mean, normalizer_std = [0.0] * dim, [1.0] * dim
    else:
        normalizer_mean = floats(torch.randn(dim, generator=generator) * 0.3)
        normalizer_std = floats(torch.rand(dim, generator=generator) * 0.5 + 0.5)
    tokenizer = {"vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt", "contextLength": CONTEXT_LENGTH, "bos": bos, "eos": eos}
    config = {
        "name": f"synthetic-unclip-{variant}",
        "title": f"Synthetic unclip-{variant} (random weights, test only)",
        "description": (
            f"SYNTHETIC: tiny random networks with the exact signatures of the real unclip-{variant} preset "
            f"(D = {dim}, 768×768 images, {unet_io} UNet inputs). Made by models/realsize/make_preset.py to prove the engine at real sizes; "
            "its images are noise."
        ),
        "version": "0.0.0-synthetic",
        "embedding": {"dim": dim, "space": f"synthetic-{spec['space']}"},
        "tokenizer": {**tokenizer, "pad": eos},
        # SD 2.x's prompt encoder pads with id 0, unlike the CLIP tower.
        "promptTokenizer": {**tokenizer, "pad": 0},
        "image": {"size": IMAGE_SIZE, "clip": {"size": CLIP_SIZE, "mean": [0.48145466, 0.4578275, 0.40821073],
                                                "std": [0.26862954, 0.26130258, 0.27577711], "resize": "shortest-side-bicubic"}},
        "noiseAugmentation": {"schedule": "squaredcos_cap_v2", "trainTimesteps": 1000, "mean": normalizer_mean, "std": normalizer_std},
        "scheduler": {"type": "pndm", "betaSchedule": "scaled_linear", "betaStart": 0.00085, "betaEnd": 0.012, "trainTimesteps": 1000,
                      "predictionType": "v_prediction", "stepsOffset": 1, "timestepSpacing": "leading"},
        "latent": {"channels": LATENT_CHANNELS, "downsample": DOWNSAMPLE, "scalingFactor": 0.18215},
        "defaults": {"steps": 20, "guidanceScale": 10, "noiseLevel": 0},
        "limits": {"maxImageSide": 4096, "maxBatch": 8, "maxRows": 9, "maxCols": 8, "maxSteps": 100, "maxCaptionLength": 300},
        "provenance": {
            "synthetic": True,
            "madeBy": "/usr/bin/python3 -m models.realsize.make_preset" + (f" --variant {variant}" if variant != "l" else "")
            + (f" --unet-io {unet_io}" if unet_io != "float16" else ""),
            "seed": SEED,
            "signaturesOf": spec["checkpoint"],
            "onnxOpset": OPSET,
            "torch": torch.__version__,
        },
        "files": files,
        "adapter": {"alphaEps": 1e-4, "betaEps": 1e-4, "alphaClamp": [1e-4, 5.0], "betaClamp": [0.1, 5.0], "inputScale": {"text": "l2", "image": "l2"}},
        "bridge": {"type": "gap-shift", "textMean": floats(torch.randn(dim, generator=generator) * 0.02),
                   "imageMean": floats(torch.randn(dim, generator=generator) * 0.02), "imageNorm": 27.5},
        "uncertainty": {"text": _quantiles(generator, 1.0), "image": _quantiles(generator, 0.8)},
    }
    save(out, config)
    return config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="preset folder to write")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="l", help="l: D = 768 (unclip-l), h: D = 1024 (unclip-h)")
    parser.add_argument("--unet-io", choices=sorted(UNET_IO), default="float16",
                        help="the UNet's sample, prompt states, class labels and output: float16 (converted by the engine) or float32")
    args = parser.parse_args(argv)
    config = build(args.out, args.variant, args.unet_io)
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(json.dumps({"preset": str(args.out), "name": config["name"], "dim": config["embedding"]["dim"], "bytes": total}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
