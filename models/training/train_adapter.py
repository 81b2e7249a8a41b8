"""The ProbVLM adapter trainer: two BayesCap heads on frozen paired embeddings (ICCV 2023).

Generic: it reads a pairs file (`image_embeds` [N,D], `text_embeds` [N,D]) and knows nothing of the
world the pairs came from, so the same script trains adapters for the shapes preset and for real
CLIP spaces. With --preset it exports `adapterImage` / `adapterText` and writes the preset's
`adapter`, `bridge` and `uncertainty` fields.

Objectives (docs/science.md, section 8):
  exact      the generalized-Gaussian NLL (r/α)^β − log β + log α + log Γ(1/β) + log 2, with α, β
             clamped as at run time and the power's exponent capped for stability (default);
  surrogate  the reference code's stabilised loss, (r/α)^β replaced by β·r/α.
Both add the intra-modal terms, the cross-modal terms (each modality's distribution scored on the
paired embedding of the other) weighted by λ, and the L1 term: T1·L1 + T2·(intra + λ·cross).

Penumbra's defaults (T1 = 1, T2 = 1, λ = 10) differ from the reference code's (T1 = 1, T2 = 1e-4,
λ = 1e-4, Adam 8e-5) on purpose: the cross-modal terms are what make a caption's distribution as wide
as the set of images it describes, and with λ = 1e-4 the shapes preset's uncertainty did not follow
ambiguity (models/shapes/REPORT.md compares both on the same pairs). Pass
--t2 1e-4 --lambda-cross 1e-4 --lr 8e-5 --objective surrogate for the reference configuration.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, asdict, field
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import ood, preset_io

ALPHA_EPS, BETA_EPS = 1e-4, 1e-4
ALPHA_CLAMP, BETA_CLAMP = (1e-4, 5.0), (0.1, 5.0)
SCALES = ("raw", "l2", "l2x100")
QUANTILE_COUNT = 101


class BayesCap(nn.Module):
    """ProbVLM's BayesCap MLP: residual trunk, then μ, 1/α and β heads (the last two end in ReLU)."""

    def __init__(self, dim: int, hidden: int = 256, dropout: float = 0.05):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
        self.mu = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.one_over_alpha = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU())
        self.beta = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU())
        # Start the ReLU heads well inside their live range (α ≈ 0.1, β ≈ 2): a head born at 0 has no gradient.
        nn.init.constant_(self.one_over_alpha[2].bias, 10.0)
        nn.init.constant_(self.beta[2].bias, 2.0)

    def forward(self, embedding: torch.Tensor):
        x = self.trunk(embedding) + embedding
        return self.mu(x), self.one_over_alpha(x), self.beta(x)


def heads_to_params(one_over_alpha: torch.Tensor, beta: torch.Tensor):
    alpha = (1.0 / (one_over_alpha + ALPHA_EPS)).clamp(*ALPHA_CLAMP)
    return alpha, (beta + BETA_EPS).clamp(*BETA_CLAMP)


def ggd_nll(x: torch.Tensor, mu: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, objective: str) -> torch.Tensor:
    """Mean per-dimension negative log-likelihood of x under GGD(μ, α, β)."""
    ratio = (x - mu).abs() / alpha
    if objective == "exact":
        power = torch.exp((beta * torch.log(ratio + 1e-12)).clamp(max=30.0))
    elif objective == "surrogate":
        power = beta * ratio
    else:
        raise ValueError(f"objective must be 'exact' or 'surrogate', got {objective!r}")
    return (power - torch.log(beta) + torch.log(alpha) + torch.lgamma(1.0 / beta) + math.log(2.0)).mean()


def variance(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """Aleatoric variance per dimension: α² Γ(3/β) / Γ(1/β)."""
    return alpha.pow(2) * torch.exp(torch.lgamma(3.0 / beta) - torch.lgamma(1.0 / beta))


def scale_inputs(raw: torch.Tensor, scale: str) -> torch.Tensor:
    if scale == "raw":
        return raw
    unit = F.normalize(raw, dim=-1)
    return unit * 100.0 if scale == "l2x100" else unit


@dataclass
class Options:
    pairs: Path
    preset: Optional[Path] = None
    val_pairs: Optional[Path] = None
    out: Optional[Path] = None
    comparison_dir: Optional[Path] = None
    corpus: Optional[Path] = None
    objective: str = "exact"
    steps: int = 4000
    batch: int = 512
    lr: float = 1e-3
    hidden: int = 256
    dropout: float = 0.05
    t1: float = 1.0
    t2: float = 1.0
    lambda_cross: float = 10.0
    text_scale: str = "l2"
    image_scale: str = "l2"
    seed: int = 0


@dataclass
class Trained:
    image: BayesCap
    text: BayesCap
    options: Options
    metrics: Dict[str, float] = field(default_factory=dict)


def load_pairs(path: Path):
    with np.load(path) as data:
        image = torch.from_numpy(np.asarray(data["image_embeds"], dtype=np.float32))
        text = torch.from_numpy(np.asarray(data["text_embeds"], dtype=np.float32))
    if image.ndim != 2 or image.shape != text.shape:
        raise ValueError(f"{path}: image_embeds and text_embeds must both be [N, D] of one shape; got {tuple(image.shape)} and {tuple(text.shape)}")
    if not (torch.isfinite(image).all() and torch.isfinite(text).all()):
        raise ValueError(f"{path}: embeddings contain NaN or infinity")
    return image, text


def pair_texts(path: Path) -> Optional[list]:
    """The captions of a pairs file, when it carries them (`texts`); the corpus record is built from them."""
    with np.load(path) as data:
        return [str(t) for t in data["texts"]] if "texts" in data.files else None


def corpus_texts(path: Path) -> list:
    """The captions of a --corpus file: a COCO-style captions JSON (`annotations[].caption`) or one caption per line."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return [str(a["caption"]) for a in json.loads(text)["annotations"]]
    return [line for line in text.splitlines() if line.strip()]


def _loss(model_i, model_t, zi, zt, o: Options):
    mu_i, ooa_i, b_i = model_i(zi)
    mu_t, ooa_t, b_t = model_t(zt)
    a_i, b_i = heads_to_params(ooa_i, b_i)
    a_t, b_t = heads_to_params(ooa_t, b_t)
    intra = ggd_nll(zi, mu_i, a_i, b_i, o.objective) + ggd_nll(zt, mu_t, a_t, b_t, o.objective)
    cross = ggd_nll(zt, mu_i, a_i, b_i, o.objective) + ggd_nll(zi, mu_t, a_t, b_t, o.objective)
    l1 = F.l1_loss(mu_i, zi) + F.l1_loss(mu_t, zt)
    return o.t1 * l1 + o.t2 * (intra + o.lambda_cross * cross), {"l1": l1.item(), "intra_nll": intra.item(), "cross_nll": cross.item()}


class _Fit:
    """Both adapters, their optimizer and the batch stream of one training run, seeded from o.seed."""

    def __init__(self, o: Options):
        torch.manual_seed(o.seed)
        raw_i, raw_t = load_pairs(o.pairs)
        self.o = o
        self.zi, self.zt = scale_inputs(raw_i, o.image_scale), scale_inputs(raw_t, o.text_scale)
        dim = self.zi.shape[1]
        self.model_i, self.model_t = BayesCap(dim, o.hidden, o.dropout), BayesCap(dim, o.hidden, o.dropout)
        self.params = list(self.model_i.parameters()) + list(self.model_t.parameters())
        self.opt = torch.optim.Adam(self.params, lr=o.lr)
        self.generator = torch.Generator().manual_seed(o.seed)

    def step(self):
        """One optimizer step on a random batch; returns the loss and its parts."""
        idx = torch.randint(0, len(self.zi), (min(self.o.batch, len(self.zi)),), generator=self.generator)
        loss, parts = _loss(self.model_i, self.model_t, self.zi[idx], self.zt[idx], self.o)
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 5.0)
        self.opt.step()
        return loss, parts


def train(o: Options, log=print) -> Trained:
    fit = _Fit(o)
    model_i, model_t = fit.model_i, fit.model_t
    schedule = torch.optim.lr_scheduler.LambdaLR(fit.opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / o.steps)))
    started = time.time()
    for step in range(o.steps):
        loss, parts = fit.step()
        schedule.step()
        if step % 500 == 0 or step == o.steps - 1:
            log(f"adapter[{o.objective}] step {step}/{o.steps} loss {loss.item():.4f} {json.dumps({k: round(v, 4) for k, v in parts.items()})} ({time.time() - started:.0f}s)")
    model_i.eval()
    model_t.eval()
    trained = Trained(model_i, model_t, o)
    if o.val_pairs is not None:
        vi, vt = load_pairs(o.val_pairs)
        with torch.no_grad():
            _, parts = _loss(model_i, model_t, scale_inputs(vi, o.image_scale), scale_inputs(vt, o.text_scale), o)
        trained.metrics = {f"val_{k}": round(v, 5) for k, v in parts.items()}
    return trained


@torch.no_grad()
def distribution(model: BayesCap, z_scaled: torch.Tensor):
    mu, ooa, beta = model(z_scaled)
    alpha, beta = heads_to_params(ooa, beta)
    return mu, alpha, beta


@torch.no_grad()
def uncertainty(model: BayesCap, z_scaled: torch.Tensor) -> torch.Tensor:
    """The uncertainty scalar per input: mean aleatoric variance over dimensions (ProbVLM's choice)."""
    _, alpha, beta = distribution(model, z_scaled)
    return variance(alpha, beta).mean(dim=-1)


def quantiles(values: torch.Tensor) -> list:
    return preset_io.floats(torch.quantile(values.double(), torch.linspace(0, 1, QUANTILE_COUNT, dtype=torch.float64)), 8)


def save(trained: Trained, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"image": trained.image.state_dict(), "text": trained.text.state_dict(), "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(trained.options).items()}}, folder / "adapter.pt")


def load(folder: Path) -> Trained:
    saved = torch.load(folder / "adapter.pt")
    o = Options(**{k: (Path(v) if k in ("pairs", "preset", "val_pairs", "out", "comparison_dir", "corpus") and v not in (None, "None") else (None if v == "None" else v)) for k, v in saved["options"].items()})
    dim = saved["image"]["mu.2.weight"].shape[0]
    image, text = BayesCap(dim, o.hidden, o.dropout), BayesCap(dim, o.hidden, o.dropout)
    image.load_state_dict(saved["image"])
    text.load_state_dict(saved["text"])
    return Trained(image.eval(), text.eval(), o)


def write_to_preset(trained: Trained, preset: Path) -> Dict:
    o = trained.options
    raw_i, raw_t = load_pairs(o.pairs)
    zi, zt = scale_inputs(raw_i, o.image_scale), scale_inputs(raw_t, o.text_scale)
    dim = zi.shape[1]
    for key, model, filename in (("adapterImage", trained.image, "adapter_image.onnx"), ("adapterText", trained.text, "adapter_text.onnx")):
        preset_io.export_onnx(model, (torch.zeros(1, dim),), preset / filename, ["embedding"], ["mu", "one_over_alpha", "beta"],
                              {"embedding": {0: "batch"}, "mu": {0: "batch"}, "one_over_alpha": {0: "batch"}, "beta": {0: "batch"}})
    with torch.no_grad():
        mu_t = torch.cat([distribution(trained.text, zt[i : i + 4096])[0] for i in range(0, len(zt), 4096)])
        u_t = torch.cat([uncertainty(trained.text, zt[i : i + 4096]) for i in range(0, len(zt), 4096)])
        unique_images = torch.unique(zi, dim=0)
        u_i = uncertainty(trained.image, unique_images)
    config = preset_io.load(preset)
    config.setdefault("files", {})
    config["files"]["adapterImage"] = preset_io.file_entry(preset, "adapter_image.onnx")
    config["files"]["adapterText"] = preset_io.file_entry(preset, "adapter_text.onnx")
    config["adapter"] = {
        "alphaEps": ALPHA_EPS, "betaEps": BETA_EPS, "alphaClamp": list(ALPHA_CLAMP), "betaClamp": list(BETA_CLAMP),
        "inputScale": {"text": o.text_scale, "image": o.image_scale},
        "objective": o.objective,
        "training": {"pairs": int(len(zi)), "steps": o.steps, "batch": o.batch, "lr": o.lr, "hidden": o.hidden, "dropout": o.dropout,
                     "t1": o.t1, "t2": o.t2, "lambdaCross": o.lambda_cross, "seed": o.seed, **trained.metrics},
    }
    # The bridge maps the text adapter's output space (where caption samples live) onto the image
    # adapter's input space: shift by the difference of the two means, then restore the image norm.
    config["bridge"] = {
        "type": "gap-shift",
        "textMean": preset_io.floats(mu_t.mean(0)),
        "imageMean": preset_io.floats(zi.mean(0)),
        "imageNorm": round(float(raw_i.norm(dim=-1).mean()), 6),
    }
    config["uncertainty"] = {"text": quantiles(u_t), "image": quantiles(u_i), "count": {"text": int(len(u_t)), "image": int(len(u_i))}}
    texts = corpus_texts(o.corpus) if o.corpus is not None else pair_texts(o.pairs)
    if texts is not None:
        config["corpus"] = ood.corpus_record(texts)
    if o.val_pairs is not None:
        # Reference scores come from held-out pairs: on the training inputs themselves the bank scores 0.
        vi, vt = load_pairs(o.val_pairs)
        config["epistemic"] = {
            "text": ood.epistemic_record(preset, "text", zt, scale_inputs(vt, o.text_scale)),
            "image": ood.epistemic_record(preset, "image", zi, scale_inputs(vi, o.image_scale)),
        }
    preset_io.save(preset, config)
    write_parity(trained, preset, zi[:1], zt[:1])
    return {"objective": o.objective, "text_uncertainty_median": config["uncertainty"]["text"][50], **trained.metrics}


# The reference configuration is trained until its validation loss stops improving, not for the preset's fixed steps: at
# lr 8e-5 those leave it far from converged. Checked every `interval` steps; stopped when the best validation loss has not
# improved by a relative `relative_tolerance` for `patience` steps, or at `max_steps` (its cost on 2 cores: ~20 ms a step).
# A run shorter than one interval (the --quick build's 4 steps) cannot be checked: it keeps the preset's step count as its cap.
CONVERGENCE = {"interval": 250, "patience": 1000, "relative_tolerance": 1e-3, "max_steps": 14000}


def comparisons(o: Options) -> Dict[str, Dict]:
    """What REPORT.md sets beside the chosen adapter: the other objective, and the reference code's configuration.
    A comparison with `until_converged` is trained by train_until_converged, its `steps` the cap."""
    cap = max(o.steps, CONVERGENCE["max_steps"]) if o.steps >= CONVERGENCE["interval"] else o.steps
    return {
        "other-objective": {"objective": "surrogate" if o.objective == "exact" else "exact"},
        "reference-configuration": {"objective": "surrogate", "t2": 1e-4, "lambda_cross": 1e-4, "lr": 8e-5, "steps": cap, "until_converged": True},
    }


def train_until_converged(o: Options, log=print, interval: int = CONVERGENCE["interval"], patience: int = CONVERGENCE["patience"],
                          relative_tolerance: float = CONVERGENCE["relative_tolerance"]) -> Trained:
    """Trains as `train` does, at constant lr, until the full objective on o.val_pairs has not improved on its best by a relative
    `relative_tolerance` for `patience` steps, or for at most o.steps steps. Returns the last weights (not the best: the loss is
    still non-increasing within the tolerance there); metrics say how many steps ran and why it stopped."""
    if o.val_pairs is None:
        raise ValueError("training to convergence needs val_pairs")
    fit = _Fit(o)
    model_i, model_t = fit.model_i, fit.model_t
    vi, vt = load_pairs(o.val_pairs)
    vi, vt = scale_inputs(vi, o.image_scale), scale_inputs(vt, o.text_scale)
    started = time.time()
    best, best_step, step, stopped_by, history = math.inf, 0, 0, "cap", []
    while step < o.steps:
        fit.step()
        step += 1
        if step % interval == 0 or step == o.steps:
            model_i.eval()
            model_t.eval()
            with torch.no_grad():
                val = _loss(model_i, model_t, vi, vt, o)[0].item()
            model_i.train()
            model_t.train()
            history.append([step, round(val, 6)])
            if best - val > relative_tolerance * abs(best) or not math.isfinite(best):
                best, best_step = val, step
            if step % (10 * interval) == 0:
                log(f"adapter[{o.objective}, to convergence] step {step}/{o.steps} val loss {val:.6f} best {best:.6f} at {best_step} ({time.time() - started:.0f}s)")
            if step - best_step >= patience:
                stopped_by = "convergence"
                break
    model_i.eval()
    model_t.eval()
    trained = Trained(model_i, model_t, o)
    with torch.no_grad():
        _, parts = _loss(model_i, model_t, vi, vt, o)
    trained.metrics = {f"val_{k}": round(v, 5) for k, v in parts.items()}
    trained.metrics.update({"steps_run": step, "stopped_by": stopped_by, "max_steps": o.steps,
                            "convergence": {"interval": interval, "patience": patience, "relative_tolerance": relative_tolerance,
                                            "val_loss": round(best, 6), "best_step": best_step, "history": history}})
    log(f"adapter[{o.objective}, to convergence] stopped by {stopped_by} at step {step}; best val loss {best:.6f} at {best_step} ({time.time() - started:.0f}s)")
    return trained


@torch.no_grad()
def write_parity(trained: Trained, preset: Path, image_input: torch.Tensor, text_input: torch.Tensor) -> None:
    """Adds the adapters' torch outputs on one scaled embedding each to torch-outputs.json (see export.py)."""
    path = preset / "torch-outputs.json"
    parity = json.loads(path.read_text()) if path.exists() else {}
    for key, model, z in (("adapterImage", trained.image, image_input), ("adapterText", trained.text, text_input)):
        mu, one_over_alpha, beta = model(z)
        parity[key] = {"embedding": preset_io.floats(z), "mu": preset_io.floats(mu), "one_over_alpha": preset_io.floats(one_over_alpha), "beta": preset_io.floats(beta)}
    path.write_text(json.dumps(parity) + "\n")


def run(o: Options, log=print) -> Dict:
    """Trains the preset's adapter and, when comparison_dir is set, the comparisons for REPORT.md."""
    trained = train(o, log)
    result = {}
    if o.out is not None:
        save(trained, o.out)
    if o.preset is not None:
        result = write_to_preset(trained, o.preset)
    if o.comparison_dir is not None:
        for name, overrides in comparisons(o).items():
            overrides = dict(overrides)
            converge = overrides.pop("until_converged", False)
            options = Options(**{**asdict(o), **overrides, "preset": None, "out": None, "comparison_dir": None})
            other = train_until_converged(options, log) if converge else train(options, log)
            save(other, o.comparison_dir / name)
            # evaluate.py reads how a converged comparison was trained from here (the weights file keeps only its options)
            metrics_path = o.comparison_dir / name / "metrics.json"
            if converge:
                metrics_path.write_text(json.dumps(other.metrics, indent=2) + "\n")
            elif metrics_path.exists():
                metrics_path.unlink()
            result[name] = {k: v for k, v in other.metrics.items() if k != "convergence"} if converge else other.metrics
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=Path, required=True, help="npz with image_embeds [N,D] and text_embeds [N,D]")
    p.add_argument("--val-pairs", type=Path, help="held-out pairs: validation losses, and the epistemic score's reference quantiles")
    p.add_argument("--corpus", type=Path, help="the captions the pairs came from (COCO captions JSON or one per line) for the preset's vocabulary; "
                   "default: the pairs file's `texts`, if it has them")
    p.add_argument("--preset", type=Path, help="preset folder to export the adapter into")
    p.add_argument("--out", type=Path, help="folder for the PyTorch checkpoint")
    p.add_argument("--objective", choices=["exact", "surrogate"], default="exact")
    p.add_argument("--steps", type=int, default=Options.steps)
    p.add_argument("--batch", type=int, default=Options.batch)
    p.add_argument("--lr", type=float, default=Options.lr)
    p.add_argument("--hidden", type=int, default=Options.hidden)
    p.add_argument("--t1", type=float, default=Options.t1, help="weight of the L1 term")
    p.add_argument("--t2", type=float, default=Options.t2, help="weight of the GGD terms (reference code: 1e-4)")
    p.add_argument("--lambda-cross", type=float, default=Options.lambda_cross, help="weight of the cross-modal terms inside T2 (reference code: 1e-4)")
    p.add_argument("--text-scale", choices=SCALES, default="l2")
    p.add_argument("--image-scale", choices=SCALES, default="l2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    if a.preset is None and a.out is None:
        p.error("give --preset (export into a preset folder) and/or --out (keep the checkpoint)")
    torch.set_num_threads(a.threads)
    o = Options(pairs=a.pairs, val_pairs=a.val_pairs, corpus=a.corpus, preset=a.preset, out=a.out, objective=a.objective, steps=a.steps, batch=a.batch, lr=a.lr,
                hidden=a.hidden, t1=a.t1, t2=a.t2, lambda_cross=a.lambda_cross, text_scale=a.text_scale, image_scale=a.image_scale, seed=a.seed)
    print(json.dumps(run(o), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
