"""python3 -m models.export.parity --preset DIR [--revision R] [--clip-text-revision R] [--device cpu|cuda]

Checks an exported preset against the modules it was exported from, on the machine that has their
weights: for fixed seeds, one UNet evaluation, one VAE decode and each CLIP tower run through the
preset's ONNX graphs (onnxruntime on the CPU) and through the torch modules (float32), and their
outputs are compared. Writes `parity.json` into the preset and exits 1 when any output has a NaN or
infinity, when the VAE decodes a black image or the UNet answers a constant, or when an output
differs by more than the precision's tolerance; `npm run preset:check` reports the record. A
preset of twins (`npm run preset:twin`) is checked against twins rebuilt from the seed it records.

The difference is measured relative to the output's range: max |onnx − torch| / max |torch|.
When an output is over its tolerance, its module runs once more in float64, and the record says how
far the float32 module and the graph each are from that: a graph about as far as the float32
module is rounding differently, one much farther computes something else. The verdict stays the
tolerance's.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import torch

from .onnx_runner import run_onnx
from .sources import Sources, TokenizerFiles
from .wrappers import ClipImageEmbeds, ClipTextEmbeds, PromptHiddenStates, UNetWithClassLabels, VaeDecoder

RECORD = "parity.json"
RECORD_VERSION = 1
SEED = 0
# fp32 graphs sum in another order than torch (fused kernels, other tiling); fp16 graphs round the
# UNet's and VAE's weights and activations to 11 significant bits, about 1e-3 each, compounded
# through tens of layers. The towers are float32 in every precision.
TOLERANCE = {"fp32": 1e-4, "fp16": 2e-2}
TOWER_TOLERANCE = 1e-4
# A decoded image (values in [-1, 1]) with this share of its values at the bottom is black.
BLACK_SHARE = 0.99
BLACK_LEVEL = -0.98


class ParityError(RuntimeError):
    pass


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _ids(tokenizer: TokenizerFiles, batch: int, generator: torch.Generator) -> torch.Tensor:
    """A few random tokens between the start and end tokens, padded: a caption's shape."""
    ids = torch.full((batch, tokenizer.context_length), tokenizer.pad, dtype=torch.int64)
    words = torch.randint(300, 1000, (batch, 6), generator=generator)
    ids[:, 0] = tokenizer.bos
    ids[:, 1:7] = words
    ids[:, 7] = tokenizer.eos
    return ids


def _cases(sources: Sources, config: Dict[str, Any]) -> List[Tuple[str, torch.nn.Module, Dict[str, torch.Tensor]]]:
    """(model key, the module its graph came from, the graph's feeds), each from a fixed seed."""
    generator = torch.Generator().manual_seed(SEED)
    side = config["image"]["size"] // config["latent"]["downsample"]
    channels = config["latent"]["channels"]
    dim = config["embedding"]["dim"]
    clip_size = config["image"]["clip"]["size"]
    latents = torch.randn(2, channels, side, side, generator=generator)
    hidden = torch.randn(2, sources.prompt_tokenizer.context_length, sources.prompt_hidden_size, generator=generator)
    class_labels = torch.randn(2, 2 * dim, generator=generator)
    return [
        ("clipText", ClipTextEmbeds(sources.clip_text), {"input_ids": _ids(sources.clip_tokenizer, 2, generator)}),
        ("clipImage", ClipImageEmbeds(sources.clip_image), {"pixel_values": torch.randn(1, 3, clip_size, clip_size, generator=generator)}),
        ("promptEncoder", PromptHiddenStates(sources.prompt_encoder, sources.prompt_layers_to_skip), {"input_ids": _ids(sources.prompt_tokenizer, 2, generator)}),
        ("unet", UNetWithClassLabels(sources.unet),
         {"sample": latents, "timestep": torch.tensor([501.0]), "encoder_hidden_states": hidden, "class_labels": class_labels}),
        ("vaeDecoder", VaeDecoder(sources.vae), {"latent_sample": latents[:1]}),
    ]


def _graph_hashes(preset: Path, entry: Dict[str, Any]) -> Dict[str, str]:
    """The graph file's sha256 and, when its weights are external, the data file's."""
    graph = preset / entry["path"]
    hashes = {entry["path"]: sha256(graph)}
    data = graph.with_name(graph.name + ".data")
    if data.exists():
        hashes[str(data.relative_to(preset))] = sha256(data)
    return hashes


def _compare(key: str, produced: torch.Tensor, expected: torch.Tensor, tolerance: float) -> Dict[str, Any]:
    finite = bool(torch.isfinite(produced).all()) and bool(torch.isfinite(expected).all())
    scale = float(expected.abs().max()) if finite else float("nan")
    difference = float((produced - expected).abs().max()) if finite else float("nan")
    relative = difference / scale if finite and scale > 0 else float("nan")
    problems = []
    if produced.shape != expected.shape:
        problems.append(f"shape {list(produced.shape)}, the module's {list(expected.shape)}")
    elif not finite:
        problems.append("NaN or infinity in the output")
    elif not relative <= tolerance:
        problems.append(f"differs by {relative:.3g} of the output's range, over the tolerance {tolerance:g}")
    if finite and key == "vaeDecoder" and float((produced <= BLACK_LEVEL).float().mean()) >= BLACK_SHARE:
        problems.append("the decoded image is black")
    if finite and key == "unet" and float(produced.std()) == 0.0:
        problems.append("the UNet answers a constant")
    # JSON has no NaN: a number that could not be measured is null.
    measured = lambda value: value if value == value else None  # noqa: E731
    return {"maxAbsDifference": measured(difference), "outputRange": measured(scale), "relativeDifference": measured(relative), "tolerance": tolerance,
            "shape": list(produced.shape), "passed": not problems, "problems": problems}


def _relative(value: torch.Tensor, reference: torch.Tensor) -> float:
    return float((value.double() - reference).abs().max() / reference.abs().max())


def _float64_yardstick(module: torch.nn.Module, feeds: Dict[str, torch.Tensor], produced: torch.Tensor, expected: torch.Tensor,
                       device: str) -> Dict[str, Any]:
    """How far the float32 module's output and the graph's are from the module run in float64 (on the
    same feeds), each relative to the float64 output's range. A module that cannot run in float64
    leaves the reason instead: the yardstick explains a verdict, it never makes one."""
    try:
        module = module.to(device=device, dtype=torch.float64)
        with torch.no_grad():
            reference = module(*[(t.double() if t.is_floating_point() else t).to(device) for t in feeds.values()]).double().cpu()
    except (RuntimeError, TypeError) as error:
        return {"unavailable": f"the module did not run in float64: {str(error).splitlines()[0]}"}
    finally:
        # float32 → float64 → float32 gives back the same weights.
        module.to(device="cpu", dtype=torch.float32)
    return {"torchFloat32": _relative(expected, reference), "onnx": _relative(produced, reference)}


def check_parity(sources: Sources, preset: Path, device: str = "cpu", log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Compares the preset's graphs with the modules of `sources`, writes preset/parity.json and returns its record."""
    config = json.loads((preset / "preset.json").read_text())
    precision = config.get("provenance", {}).get("precision", "fp32")
    if precision not in TOLERANCE:
        raise ParityError(f"{preset}/preset.json names precision {precision!r}; parity knows {', '.join(TOLERANCE)}")
    checks: Dict[str, Any] = {}
    graphs: Dict[str, str] = {}
    for key, module, feeds in _cases(sources, config):
        entry = config["files"][key]
        log(f"parity: {key} ({entry['path']})")
        module = module.to(device=device, dtype=torch.float32).eval()
        with torch.no_grad():
            expected = module(*[tensor.to(device) for tensor in feeds.values()]).float().cpu()
        module.to("cpu")
        (produced,) = run_onnx(preset / entry["path"], feeds).values()
        tolerance = TOLERANCE[precision] if key in ("unet", "vaeDecoder") else TOWER_TOLERANCE
        checks[key] = _compare(key, produced.float(), expected, tolerance)
        over = checks[key]["relativeDifference"] is not None and checks[key]["relativeDifference"] > tolerance
        if over:
            log(f"parity: {key} is over its tolerance; running its module in float64 as a yardstick")
            checks[key]["fromFloat64"] = _float64_yardstick(module, feeds, produced.float(), expected, device)
        graphs.update(_graph_hashes(preset, entry))
    record = {
        "version": RECORD_VERSION,
        "checkedAt": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "precision": precision,
        "seed": SEED,
        "measure": "max |onnx − torch| / max |torch|, the torch module in float32",
        "sources": sources.provenance,
        "graphs": graphs,
        "checks": checks,
        "passed": all(check["passed"] for check in checks.values()),
    }
    (preset / RECORD).write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    return record


def main(argv=None) -> int:
    from .load import MissingDependencies, load_sources
    from .variants import VARIANTS

    p = argparse.ArgumentParser(prog="python3 -m models.export.parity", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", type=Path, required=True, help="a preset folder written by python3 -m models.export")
    p.add_argument("--revision", help="revision of the unCLIP checkpoint (default: the one preset.json records)")
    p.add_argument("--clip-text-revision", help="revision of the CLIP text tower's repository (default: the one preset.json records)")
    p.add_argument("--device", default="cpu", help="where the torch modules run (cuda is faster at full size)")
    a = p.parse_args(argv)
    config = json.loads((a.preset / "preset.json").read_text())
    provenance = config.get("provenance", {})
    twin = provenance.get("sources", {}).get("twin")
    if twin is not None:
        # A preset of twins (models/twins): its modules are rebuilt from the seed and sizes it records.
        from models.twins.sources import twin_sources

        sources = twin_sources(provenance["variant"].removeprefix("twin-"), latent=twin["latent"], seed=twin["seed"], width=twin["width"])
        return report(check_parity(sources, a.preset, a.device, log=lambda m: print(m, file=sys.stderr)), a.preset)
    variant = VARIANTS.get(provenance.get("variant", ""))
    if variant is None:
        p.error(f"{a.preset}/preset.json records no exported variant ({', '.join(VARIANTS)}); parity checks presets written by python3 -m models.export")
    recorded = provenance.get("sources", {})

    def recorded_revision(source: str):
        # An export from a local folder records no commit to fetch again.
        revision = recorded.get(source, {}).get("revision")
        return None if revision is None or revision.startswith("local folder") else revision

    try:
        sources = load_sources(variant, a.revision or recorded_revision("unclip"), a.clip_text_revision or recorded_revision("clipText"), log=lambda m: print(m, file=sys.stderr))
    except MissingDependencies as error:
        print(f"models.export.parity: {error}", file=sys.stderr)
        return 2
    return report(check_parity(sources, a.preset, a.device, log=lambda m: print(m, file=sys.stderr)), a.preset)


def report(record: Dict[str, Any], preset: Path) -> int:
    """Prints the record's verdict; 0 when every check passed, 1 (loudly) otherwise."""
    for key, check in record["checks"].items():
        verdict = "ok" if check["passed"] else "FAILED: " + "; ".join(check["problems"])
        difference = "unmeasured" if check["relativeDifference"] is None else f"{check['relativeDifference']:.3g}"
        print(f"{key:14} relative difference {difference} (tolerance {check['tolerance']:g})  {verdict}")
        yardstick = check.get("fromFloat64")
        if yardstick is not None and "unavailable" in yardstick:
            print(f"{'':14} no float64 yardstick: {yardstick['unavailable']}")
        elif yardstick is not None:
            print(f"{'':14} from the module in float64: the float32 module {yardstick['torchFloat32']:.3g}, the graph {yardstick['onnx']:.3g}")
    if record["passed"]:
        print(f"parity passed; recorded in {preset / RECORD}")
        return 0
    print(f"PARITY FAILED for {preset}: the graphs do not compute what their modules compute (recorded in {preset / RECORD})", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
