"""Turns a checkpoint's modules (`Sources`) into a Penumbra preset folder.

Writes the five decoder-side ONNX graphs, the tokenizer files and preset.json. The ProbVLM adapter
(`adapterText`, `adapterImage`, and the `adapter`, `bridge`, `uncertainty` fields) is trained on
pairs embedded by the exported CLIP towers, so it is a second step (docs/real-presets.md):
`models/training/train_adapter.py --preset DIR` adds it, or `adapter_from` copies it from another
complete preset of the same CLIP space (the fp32 and fp16 presets of one variant share their CLIP
towers, so one adapter serves both). Until then the engine refuses the folder, naming the missing fields.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import torch

from models.training.preset_io import OPSET, file_entry, floats, load, save, sha256

from .onnx_files import PROTOBUF_LIMIT_BYTES, export_graph
from .fused_attention import fuse_attention
from .precision import Precision, keep_attention_in_float32
from .sources import Sources, TokenizerFiles
from .variants import Variant
from .wrappers import ClipImageEmbeds, ClipTextEmbeds, PromptHiddenStates, UNetWithClassLabels, VaeDecoder

REPO = Path(__file__).resolve().parents[2]
BATCH = {0: "batch"}
ADAPTER_FIELDS = ("adapter", "bridge", "uncertainty")
ADAPTER_FILES = ("adapterText", "adapterImage")
SCHEDULER_TYPES = {"PNDMScheduler": "pndm", "DDIMScheduler": "ddim", "DPMSolverMultistepScheduler": "dpmpp2m"}
# Stable unCLIP's pipeline defaults (docs/science.md, section 7): 20 steps, guidance 10, noise level 0.
DEFAULTS = {"steps": 20, "guidanceScale": 10.0, "noiseLevel": 0}
# maxBatch counts UNet rows (a guidance pair is two). These are conservative guesses for a 16 GB
# GPU (fp16) and a workstation CPU (fp32), not measurements: raise them on bigger machines.
LIMITS = {
    "fp32": {"maxImageSide": 4096, "maxBatch": 4, "maxRows": 9, "maxCols": 8, "maxSteps": 100, "maxCaptionLength": 300},
    "fp16": {"maxImageSide": 4096, "maxBatch": 8, "maxRows": 9, "maxCols": 8, "maxSteps": 100, "maxCaptionLength": 300},
}


class ExportError(ValueError):
    """A checkpoint or option that the preset contract cannot express; the message says which."""


def scheduler_fields(config: Dict[str, Any]) -> Dict[str, Any]:
    """preset.json's `scheduler` from a diffusers scheduler_config.json (diffusers' defaults where a key is absent)."""
    class_name = config.get("_class_name")
    if class_name not in SCHEDULER_TYPES:
        raise ExportError(f"scheduler {class_name!r} has no engine implementation; expected one of {sorted(SCHEDULER_TYPES)}")
    if class_name == "PNDMScheduler" and not config.get("skip_prk_steps", False):
        raise ExportError("the engine's PNDM runs PLMS steps only; this scheduler config has skip_prk_steps = false")
    fields = {
        "type": SCHEDULER_TYPES[class_name],
        "betaSchedule": config.get("beta_schedule", "linear"),
        "betaStart": float(config.get("beta_start", 0.0001)),
        "betaEnd": float(config.get("beta_end", 0.02)),
        "trainTimesteps": int(config.get("num_train_timesteps", 1000)),
        "predictionType": config.get("prediction_type", "epsilon"),
        "stepsOffset": int(config.get("steps_offset", 0)),
        "timestepSpacing": config.get("timestep_spacing", "leading"),
    }
    if fields["betaSchedule"] not in ("scaled_linear", "linear"):
        raise ExportError(f"beta_schedule {fields['betaSchedule']!r} is not supported by the engine (scaled_linear or linear)")
    if fields["predictionType"] not in ("v_prediction", "epsilon"):
        raise ExportError(f"prediction_type {fields['predictionType']!r} is not supported by the engine (v_prediction or epsilon)")
    return fields


def noise_augmentation_fields(sources: Sources, dim: int) -> Dict[str, Any]:
    config = sources.noising_scheduler_config
    if config.get("beta_schedule") != "squaredcos_cap_v2":
        raise ExportError(f"image_noising_scheduler has beta_schedule {config.get('beta_schedule')!r}; the engine implements squaredcos_cap_v2")
    mean = sources.normalizer_mean.detach().float().reshape(-1)
    std = sources.normalizer_std.detach().float().reshape(-1)
    if mean.numel() != dim or std.numel() != dim:
        raise ExportError(f"image normalizer has {mean.numel()} / {std.numel()} values; the embedding has D = {dim}")
    if not bool((std > 0).all()):
        raise ExportError("image normalizer std has values ≤ 0")
    return {"schedule": "squaredcos_cap_v2", "trainTimesteps": int(config.get("num_train_timesteps", 1000)), "mean": floats(mean, 8), "std": floats(std, 8)}


def _tokenizer_fields(tokenizer: TokenizerFiles, out: Path, folder: str) -> Dict[str, Any]:
    (out / folder).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tokenizer.vocab, out / folder / "vocab.json")
    shutil.copyfile(tokenizer.merges, out / folder / "merges.txt")
    return {"vocab": f"{folder}/vocab.json", "merges": f"{folder}/merges.txt", "contextLength": tokenizer.context_length,
            "bos": tokenizer.bos, "eos": tokenizer.eos, "pad": tokenizer.pad}


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def _example_ids(tokenizer: TokenizerFiles, batch: int) -> torch.Tensor:
    ids = torch.full((batch, tokenizer.context_length), tokenizer.pad, dtype=torch.int64)
    ids[:, 0], ids[:, 1] = tokenizer.bos, tokenizer.eos  # the empty prompt, as the engine tokenizes it
    return ids


@contextmanager
def _on_export_device(module: torch.nn.Module, precision: Precision, dtype: torch.dtype):
    """The module on the export device in `dtype` while it is traced, back on the CPU afterwards, so
    the device holds one network at a time: for unclip-h the five weigh ≈ 7.1 GB together (fp16 UNet and VAE,
    float32 towers), the largest alone ≈ 2.5 GB (the ViT-H image tower)."""
    placed = module.to(device=precision.device, dtype=dtype).eval()
    try:
        yield placed
    finally:
        module.to("cpu")
        if precision.device == "cuda":
            torch.cuda.empty_cache()


ATTENTION = {
    # onnxruntime's fused com.microsoft.MultiHeadAttention: no [batch, heads, tokens, tokens] tensors in the graph (fused_attention.py).
    "fused": fuse_attention,
    # Op by op, QKᵀ and softmax in float32 (precision.py): the reference form, for runtimes without onnxruntime's contrib ops.
    "unfused": keep_attention_in_float32,
}
ATTENTION_NOTES = {
    "fused": "com.microsoft.MultiHeadAttention in the UNet and VAE (models/export/fused_attention.py); onnxruntime's kernels accumulate the softmax in float32",
    "unfused": "QKᵀ, scale and softmax in float32 in the UNet and VAE (models/export/precision.py)",
}


def export_graphs(sources: Sources, variant: Variant, precision: Precision, out: Path, external_data_threshold: int, log: Callable[[str], None],
                  attention: str = "fused") -> Dict[str, List[str]]:
    """The five decoder-side graphs; returns each model key's files (the graph first)."""
    # Installed at every precision so fp32 and fp16 graphs share one attention formulation; done
    # before any export so a UNet without diffusers Attention is refused at once.
    install = ATTENTION[attention]
    unet_patched = install(sources.unet)
    if unet_patched == 0:
        raise ExportError("found no diffusers Attention module in the UNet; its attention would run in the weights' dtype")
    vae_patched = install(sources.vae)
    log(f"attention {attention}: UNet {unet_patched} module(s), VAE decoder {vae_patched}")

    latent_side = sources.image_size // sources.latent_downsample
    D, H = variant.embedding_dim, sources.prompt_hidden_size
    generator = torch.Generator().manual_seed(0)
    # Batch 1 for the UNet: its attention temporaries grow with the batch, and the batch axis is
    # dynamic anyway (the tests run the graph at batch 2 and 3).
    latents = torch.randn(1, sources.latent_channels, latent_side, latent_side, generator=generator)
    hidden = torch.randn(1, sources.prompt_tokenizer.context_length, H, generator=generator)
    class_labels = torch.randn(1, 2 * D, generator=generator)
    timestep = torch.tensor([501.0])
    pixels = torch.randn(1, 3, sources.clip_image_size, sources.clip_image_size, generator=generator)

    float32, decoder_dtype = torch.float32, precision.dtype
    graphs = [
        ("clipText", sources.clip_text, float32, ClipTextEmbeds, (_example_ids(sources.clip_tokenizer, 2),), "clip_text.onnx", ["input_ids"], ["text_embeds"],
         {"input_ids": BATCH, "text_embeds": BATCH}),
        ("clipImage", sources.clip_image, float32, ClipImageEmbeds, (pixels,), "clip_image.onnx", ["pixel_values"], ["image_embeds"],
         {"pixel_values": BATCH, "image_embeds": BATCH}),
        ("promptEncoder", sources.prompt_encoder, float32, lambda m: PromptHiddenStates(m, sources.prompt_layers_to_skip), (_example_ids(sources.prompt_tokenizer, 2),),
         "prompt_encoder.onnx", ["input_ids"], ["last_hidden_state"], {"input_ids": BATCH, "last_hidden_state": BATCH}),
        ("unet", sources.unet, decoder_dtype, UNetWithClassLabels, (latents, timestep, hidden, class_labels), "unet.onnx",
         ["sample", "timestep", "encoder_hidden_states", "class_labels"], ["out_sample"],
         {"sample": BATCH, "encoder_hidden_states": BATCH, "class_labels": BATCH, "out_sample": BATCH}),
        ("vaeDecoder", sources.vae, decoder_dtype, VaeDecoder, (latents,), "vae_decoder.onnx", ["latent_sample"], ["sample"], {"latent_sample": BATCH, "sample": BATCH}),
    ]
    written = {}
    for key, module, dtype, wrap, args, filename, inputs, outputs, axes in graphs:
        log(f"exporting {key} → {filename}")
        with _on_export_device(module, precision, dtype) as placed:
            written[key] = export_graph(wrap(placed), [a.to(precision.device) for a in args], out, filename, inputs, outputs, axes, external_data_threshold)
    return written


def copy_adapter(source: Path, out: Path, config: Dict[str, Any]) -> None:
    """Adds another preset's adapter, after checking that it was trained in the same CLIP space."""
    other = load(source)
    missing = [f for f in ADAPTER_FIELDS if f not in other] + [k for k in ADAPTER_FILES if k not in other.get("files", {})]
    if missing:
        raise ExportError(f"{source}/preset.json has no trained adapter (missing {', '.join(missing)}); run models/training/train_adapter.py --preset {source} first")
    if other.get("embedding") != config["embedding"]:
        raise ExportError(f"{source} embeds in {other.get('embedding')}, this preset in {config['embedding']}")
    ours, theirs = config["provenance"]["sources"], other.get("provenance", {}).get("sources", {})
    for tower in ("clipText", "clipImage"):
        if theirs.get(tower) != ours.get(tower):
            raise ExportError(f"{source}'s {tower} came from {theirs.get(tower)}, this preset's from {ours.get(tower)}: the adapter would see other embeddings")
    for key in ADAPTER_FILES:
        entry = other["files"][key]
        if sha256(source / entry["path"]) != entry["sha256"]:
            raise ExportError(f"{source / entry['path']} does not match the sha256 in {source}/preset.json")
        shutil.copyfile(source / entry["path"], out / entry["path"])
        config["files"][key] = file_entry(out, entry["path"])
    for field in ADAPTER_FIELDS:
        config[field] = other[field]
    config["provenance"]["adapterCopiedFrom"] = {"preset": other.get("name"), "digest": sha256(source / "preset.json")}


def export_preset(sources: Sources, variant: Variant, precision: Precision, out: Path, adapter_from: Optional[Path] = None,
                  external_data_threshold: int = PROTOBUF_LIMIT_BYTES, log: Callable[[str], None] = print, attention: str = "fused",
                  command: Optional[str] = None) -> Dict[str, Any]:
    """Writes the preset folder `out`; returns a summary (files, sizes, what is still missing).
    `command` is recorded as provenance.exportedBy when the caller is not `python3 -m models.export`."""
    D = variant.embedding_dim
    # Everything that can refuse the checkpoint runs before the long exports.
    scheduler = scheduler_fields(sources.scheduler_config)
    noise_augmentation = noise_augmentation_fields(sources, D)
    if sources.image_size % sources.latent_downsample:
        raise ExportError(f"image size {sources.image_size} is not a multiple of the latent downsampling {sources.latent_downsample}")
    out.mkdir(parents=True, exist_ok=True)

    if attention not in ATTENTION:
        raise ExportError(f"attention {attention!r} is not one of {', '.join(ATTENTION)}")
    written = export_graphs(sources, variant, precision, out, external_data_threshold, log, attention)
    tokenizer = _tokenizer_fields(sources.clip_tokenizer, out, "tokenizer/clip")
    prompt_tokenizer = _tokenizer_fields(sources.prompt_tokenizer, out, "tokenizer/prompt")

    half = "float16" if precision.dtype == torch.float16 else str(precision.dtype).replace("torch.", "")
    files = {key: file_entry(out, names[0]) for key, names in written.items()}
    every_file = sorted([name for names in written.values() for name in names] + [tokenizer["vocab"], tokenizer["merges"], prompt_tokenizer["vocab"], prompt_tokenizer["merges"]])
    config: Dict[str, Any] = {
        "name": variant.name if precision.name == "fp32" else f"{variant.name}-{precision.name}",
        "title": f"{variant.title}, {precision.name}",
        "description": variant.description,
        "version": "1.0.0",
        "embedding": {"dim": D, "space": variant.embedding_space},
        "tokenizer": tokenizer,
        "promptTokenizer": prompt_tokenizer,
        "image": {"size": sources.image_size, "clip": {"size": sources.clip_image_size, "mean": [float(v) for v in sources.clip_image_mean],
                                                       "std": [float(v) for v in sources.clip_image_std], "resize": "shortest-side-bicubic"}},
        "noiseAugmentation": noise_augmentation,
        "scheduler": scheduler,
        "latent": {"channels": sources.latent_channels, "downsample": sources.latent_downsample, "scalingFactor": float(sources.vae_scaling_factor)},
        "defaults": dict(DEFAULTS),
        "limits": dict(LIMITS.get(precision.name, LIMITS["fp16"])),
        "provenance": {
            "exportedBy": command or f"python3 -m models.export --variant {variant.name} --precision {precision.name} --attention {attention}",
            "commit": _git_commit(),
            "variant": variant.name,
            "precision": precision.name,
            "sources": sources.provenance,
            "promptEncoder": {"layersToSkip": sources.prompt_layers_to_skip, "output": "hidden states after the final layer norm (SD 2.x: OpenCLIP ViT-H penultimate layer)"},
            "weights": {"unet": half, "vaeDecoder": half, "clipText": "float32", "clipImage": "float32", "promptEncoder": "float32"},
            "graphInputsOutputs": "float32 (input_ids int64); casts to the weights' dtype happen inside the graphs",
            "attention": ATTENTION_NOTES[attention],
            "normalizerIsIdentity": bool(torch.all(torch.tensor(noise_augmentation["mean"]) == 0) and torch.all(torch.tensor(noise_augmentation["std"]) == 1)),
            "onnxOpset": OPSET,
            "torch": torch.__version__,
            # Every file's hash, including external weight files the engine's `files` entries do not name.
            "fileHashes": {name: sha256(out / name) for name in every_file},
        },
        "files": files,
    }
    if adapter_from is not None:
        copy_adapter(adapter_from, out, config)
    save(out, config)
    missing = [f for f in ADAPTER_FIELDS if f not in config] + [f"files.{k}" for k in ADAPTER_FILES if k not in config["files"]]
    return {"preset": str(out), "name": config["name"], "files": every_file, "bytes": sum((out / n).stat().st_size for n in every_file),
            "complete": not missing, "missing": missing}
