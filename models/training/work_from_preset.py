"""A build's work folder, rebuilt from a finished preset's own weights.

`npm run train:shapes -- --from STAGE` reruns stages on a work folder that holds the earlier stages' outputs, but
a clone has only the preset. `python3 -m models.training.work_from_preset --preset models/shapes --work W` writes
the work folder that the preset's build left behind up to stage `unet`, without training anything:

- stage `data` runs again (it is deterministic; the tokenizer it learns must equal the preset's, or this stops);
- the CLIP, VAE and checker weights are the preset's (`torch/*.pt` are the build's own files): stage clip's dual
  encoder is `torch/clip_base.pt`, stage text's `torch/clip.pt`, the base UNet is `torch/unet_base.pt`, and the
  VAE's training latents are encoded again with the preset's VAE;
- stages.json takes those stages' records from the preset's build.json, so the build's table keeps their times.

A following `npm run train:shapes -- --work W --preset P` then runs `embed` and every stage after `unet` (the
stages whose outputs are missing) on exactly the weights the preset was built from.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Dict

import torch

from . import data, train_vae

# Stage name → the weights in <preset>/torch that are that stage's output in the work folder.
WEIGHTS = {"clip": {"clip_base.pt": "clip.pt"}, "text": {"clip.pt": "clip_text.pt"}, "vae": {"vae.pt": "vae.pt"}, "checker": {"checker.pt": "checker.pt"}, "unet": {"unet_base.pt": "unet.pt"}}


def _same_tokenizer(work_tokenizer: Path, preset_tokenizer: Path) -> bool:
    """Every file stage data wrote equals the preset's (the export adds reference ids beside them)."""
    return all((preset_tokenizer / p.name).exists() and p.read_bytes() == (preset_tokenizer / p.name).read_bytes() for p in work_tokenizer.iterdir())


def rebuild(preset: Path, work: Path, log=print) -> Dict:
    record = json.loads((preset / "build.json").read_text())
    quick = bool(json.loads((preset / "preset.json").read_text())["provenance"]["quick"])
    missing = [f"torch/{source}" for files in WEIGHTS.values() for source in files if not (preset / "torch" / source).exists()]
    if missing:
        raise SystemExit(f"{preset} lacks {', '.join(missing)}: it was not written by a full build")
    work.mkdir(parents=True, exist_ok=True)
    data.build(work, quick)  # a --quick preset's tiny splits, or the full ones
    if not _same_tokenizer(work / "tokenizer", preset / "tokenizer"):
        raise SystemExit("stage data learned another tokenizer than the preset's: this code does not build that preset")
    for files in WEIGHTS.values():
        for source, target in files.items():
            shutil.copyfile(preset / "torch" / source, work / target)
    vae, scaling_factor = train_vae.load(work)
    torch.save(train_vae.encoder_means(vae, data.load_images(work, "train")) * scaling_factor, work / "train_latents.pt")
    stages = {name: record[name] for name in ("data", *WEIGHTS)}
    (work / "stages.json").write_text(json.dumps(stages, indent=2))
    log(f"work folder {work}: stages {', '.join(stages)} from {preset}; `npm run train:shapes -- --work {work} --preset DIR` runs the rest")
    return stages


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild a build's work folder from a preset's weights (see the module docstring).")
    parser.add_argument("--preset", type=Path, default=Path(__file__).resolve().parents[1] / "shapes")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    a = parser.parse_args(argv)
    torch.set_num_threads(a.threads)
    rebuild(a.preset, a.work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
