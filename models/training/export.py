"""Stage `export`: ONNX files (opset 17, fp32) and preset.json for the bundled shapes preset.

Tensor names, element types and ranks are docs/model-contract.md's, the same as the real Stable unCLIP
presets'. The adapter stage adds `adapterImage`, `adapterText`, `adapter`, `bridge`, `uncertainty`.
A small torch-outputs.json records torch outputs on fixed inputs so the engine's tests can prove that
onnxruntime-node computes what PyTorch computed.
"""
from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Dict

import torch
import torch.nn as nn

from . import data, refit_text, train_clip, train_unet, train_vae, world
from .build_shapes import REPO
from .nets import CONTEXT_LENGTH, EMBED_DIM
from .preset_io import OPSET, export_onnx, file_entry, floats, load, save

GUIDANCE_SCALE = 5.0  # chosen on the validation split: REPORT.md's guidance sweep
BATCH = {0: "batch"}


class _HiddenStates(nn.Module):
    """The text tower's last hidden states: the prompt encoder's output."""

    def __init__(self, tower):
        super().__init__()
        self.tower = tower

    def forward(self, input_ids):
        return self.tower.hidden_states(input_ids)


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "uncommitted"


def export_preset(work: Path, preset: Path, quick: bool = False) -> Dict:
    preset.mkdir(parents=True, exist_ok=True)
    tokenizer = data.load_tokenizer(work)
    clip = refit_text.load(work)  # caption and image embeddings
    prompt_tower = train_clip.load(work).text  # the UNet's prompt encoder: the text tower it was trained with (refit_text.py)
    vae, scaling_factor = train_vae.load(work)
    unet, stats = train_unet.load(work)

    shutil.copytree(work / "tokenizer", preset / "tokenizer", dirs_exist_ok=True)
    # PyTorch twins of the ONNX files: the reference pipeline (REPORT.md, the benchmark's baseline) runs on them.
    (preset / "torch").mkdir(exist_ok=True)
    for source, name in ((refit_text.OUT, "clip.pt"), ("clip.pt", "clip_base.pt"), ("vae.pt", "vae.pt"), ("unet.pt", "unet.pt"), ("checker.pt", "checker.pt")):
        shutil.copyfile(work / source, preset / "torch" / name)
    ids, pixels = _fixed_ids(tokenizer), data.load_images(work, "val")[:2]
    latents, timestep, hidden, class_labels = _unet_inputs(prompt_tower, tokenizer)

    export_onnx(clip.text, (ids,), preset / "clip_text.onnx", ["input_ids"], ["text_embeds"], {"input_ids": BATCH, "text_embeds": BATCH})
    export_onnx(clip.image, (pixels,), preset / "clip_image.onnx", ["pixel_values"], ["image_embeds"], {"pixel_values": BATCH, "image_embeds": BATCH})
    export_onnx(_HiddenStates(prompt_tower), (ids,), preset / "prompt_encoder.onnx", ["input_ids"], ["last_hidden_state"], {"input_ids": BATCH, "last_hidden_state": BATCH})
    export_onnx(vae.decoder, (latents,), preset / "vae_decoder.onnx", ["latent_sample"], ["sample"], {"latent_sample": BATCH, "sample": BATCH})
    _export_unet_onnx(unet, preset, (latents, timestep, hidden, class_labels))

    with torch.no_grad():
        parity = {
            "note": "torch outputs on fixed inputs, written by models/training/export.py; the engine's tests compare onnxruntime-node against them",
            "clipText": {"input_ids": ids[:1].reshape(-1).tolist(), "text_embeds": floats(clip.text(ids[:1]))},
            "clipImage": {"pixel_values": floats(pixels[:1]), "image_embeds": floats(clip.image(pixels[:1]))},
            "promptEncoder": {"input_ids": ids[:1].reshape(-1).tolist(), "last_hidden_state_first_row": floats(hidden[0, 0]), "last_hidden_state_sum": round(float(hidden[:1].sum()), 4)},
            "vaeDecoder": {"latent_sample": floats(latents[:1]), "sample": floats(vae.decoder(latents[:1]))},
            "unet": _unet_parity(unet, (latents, timestep, hidden, class_labels)),
        }
    (preset / "torch-outputs.json").write_text(json.dumps(parity) + "\n")
    _write_tokenizer_reference(tokenizer, preset / "tokenizer" / "reference-ids.json")

    record = json.loads((work / "stages.json").read_text()) if (work / "stages.json").exists() else {}
    config = load(preset)
    config.update({
        "name": "shapes",
        "title": "Shapes (bundled)",
        "description": "A small CLIP + ProbVLM + unCLIP family trained on a synthetic world of coloured shapes, where how vague a caption is is known by construction. Runs on any CPU.",
        "version": "1.0.0",
        "embedding": {"dim": EMBED_DIM, "space": "shapes-64"},
        "tokenizer": {"vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt", "contextLength": CONTEXT_LENGTH, "bos": tokenizer.bos_id, "eos": tokenizer.eos_id, "pad": tokenizer.pad_id},
        "image": {"size": world.IMAGE_SIZE, "clip": {"size": world.IMAGE_SIZE, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "resize": "shortest-side-bicubic"}},
        "noiseAugmentation": {"schedule": "squaredcos_cap_v2", "trainTimesteps": 1000, "mean": floats(stats["mean"]), "std": floats(stats["std"])},
        "scheduler": {"type": "pndm", "betaSchedule": "scaled_linear", "betaStart": 0.00085, "betaEnd": 0.012, "trainTimesteps": 1000,
                      "predictionType": "v_prediction", "stepsOffset": 1, "timestepSpacing": "leading"},
        "latent": {"channels": 4, "downsample": 4, "scalingFactor": round(scaling_factor, 6)},
        "defaults": {"steps": 20, "guidanceScale": GUIDANCE_SCALE, "noiseLevel": 0},
        # maxImageSide bounds uploaded images (checked from the header before decoding); CLIP preprocessing resizes them.
        "limits": {"maxImageSide": 4096, "maxBatch": 32, "maxRows": 9, "maxCols": 8, "maxSteps": 100, "maxCaptionLength": 300},
        "provenance": {
            "trainedBy": "npm run train:shapes (models/training/build_shapes.py)",
            "commit": _git_commit(),
            "data": "synthetic shapes world (models/training/world.py), splits seeded train=1 val=2 test=3",
            "onnxOpset": OPSET,
            "torch": torch.__version__,
            "quick": quick,
            "stages": {k: v.get("result") for k, v in record.items()},
        },
    })
    config.setdefault("files", {})
    for key, name in (("clipText", "clip_text.onnx"), ("clipImage", "clip_image.onnx"), ("promptEncoder", "prompt_encoder.onnx"), ("unet", "unet.onnx"), ("vaeDecoder", "vae_decoder.onnx")):
        config["files"][key] = file_entry(preset, name)
    save(preset, config)
    return {"files": sorted(config["files"]), "bytes": sum((preset / f["path"]).stat().st_size for f in config["files"].values())}


def _fixed_ids(tokenizer) -> torch.Tensor:
    return tokenizer.encode_batch(["a large red circle at the top left", ""])


def _unet_inputs(prompt_tower, tokenizer):
    """The fixed example inputs the UNet is traced with and its parity record is computed on."""
    latents = torch.randn(2, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    hidden = prompt_tower.hidden_states(_fixed_ids(tokenizer)).detach()
    class_labels = torch.randn(2, 2 * EMBED_DIM, generator=torch.Generator().manual_seed(1))
    return latents, torch.tensor([501], dtype=torch.int64), hidden, class_labels


def _export_unet_onnx(unet, preset: Path, inputs) -> None:
    export_onnx(unet, inputs, preset / "unet.onnx", ["sample", "timestep", "encoder_hidden_states", "class_labels"], ["out_sample"],
                {"sample": BATCH, "encoder_hidden_states": BATCH, "class_labels": BATCH, "out_sample": BATCH})


@torch.no_grad()
def _unet_parity(unet, inputs) -> Dict:
    latents, timestep, hidden, class_labels = inputs
    return {"sample": floats(latents[:1]), "timestep": int(timestep), "encoder_hidden_states": floats(hidden[:1]), "class_labels": floats(class_labels[:1]),
            "out_sample": floats(unet(latents[:1], timestep, hidden[:1], class_labels[:1]))}


def replace_unet(work: Path, preset: Path, weights: str) -> Dict:
    """Exports the UNet saved as work/`weights` over the preset's: ONNX file, torch twin, parity record, files entry."""
    prompt_tower, tokenizer = train_clip.load(work).text, data.load_tokenizer(work)
    unet, _ = train_unet.load(work, weights)
    inputs = _unet_inputs(prompt_tower, tokenizer)
    _export_unet_onnx(unet, preset, inputs)
    shutil.copyfile(work / weights, preset / "torch" / "unet.pt")
    parity_path = preset / "torch-outputs.json"
    parity = json.loads(parity_path.read_text())
    parity["unet"] = _unet_parity(unet, inputs)
    parity_path.write_text(json.dumps(parity) + "\n")
    config = load(preset)
    config["files"]["unet"] = file_entry(preset, "unet.onnx")
    save(preset, config)
    return {"unet_bytes": (preset / "unet.onnx").stat().st_size}


def _write_tokenizer_reference(tokenizer, path: Path) -> None:
    """Captions and the ids the training tokenizer gave them: the engine's tokenizer must agree."""
    rng = random.Random(7)
    scenes = world.make_split("test", 40)
    texts = [world.random_caption(s, rng).text for s in scenes] + ["", "A  Large RED circle &amp; more!", "at the top-left, 3 shapes"]
    cases = [{"text": t, "ids": tokenizer.encode_for_model(t)} for t in texts]
    path.write_text(json.dumps({"contextLength": tokenizer.context_length, "bos": tokenizer.bos_id, "eos": tokenizer.eos_id, "pad": tokenizer.pad_id, "cases": cases}) + "\n")
