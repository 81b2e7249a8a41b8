"""The parity check on stand-in modules: a preset exported from them passes; graphs from other
weights, NaNs and black images fail it loudly; preset:check reports the record."""
from __future__ import annotations

import json

import pytest
import torch

from models.export import export_preset as exporter
from models.export.parity import RECORD, TOLERANCE, check_parity, report, sha256
from models.export.precision import PRECISIONS
from models.export.tests.toy_models import TOY_VARIANT, toy_sources

pytestmark = pytest.mark.filterwarnings("ignore:Exporting aten::index operator")
KEYS = ["clipText", "clipImage", "promptEncoder", "unet", "vaeDecoder"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity")
    exporter.export_preset(toy_sources(root, seed=0), TOY_VARIANT, PRECISIONS["fp32"], root / "preset", log=lambda m: None)
    return root


def test_a_preset_matches_the_modules_it_was_exported_from(exported, capsys):
    preset = exported / "preset"
    record = check_parity(toy_sources(exported, seed=0), preset, log=lambda m: None)
    assert record["passed"] and sorted(record["checks"]) == sorted(KEYS)
    for check in record["checks"].values():
        assert check["passed"] and check["relativeDifference"] <= check["tolerance"] <= TOLERANCE["fp32"]
        assert check["outputRange"] > 0
        # The float64 yardstick runs only for an output over its tolerance.
        assert "fromFloat64" not in check
    assert json.loads((preset / RECORD).read_text()) == record
    config = json.loads((preset / "preset.json").read_text())
    assert {config["files"][key]["path"] for key in KEYS} <= set(record["graphs"])
    assert all(sha256(preset / name) == digest for name, digest in record["graphs"].items())
    assert report(record, preset) == 0
    assert "parity passed" in capsys.readouterr().out


def test_graphs_from_other_weights_fail_loudly(exported, tmp_path, capsys):
    preset = tmp_path / "preset"
    exporter.export_preset(toy_sources(tmp_path, seed=0), TOY_VARIANT, PRECISIONS["fp32"], preset, log=lambda m: None)
    record = check_parity(toy_sources(tmp_path, seed=1), preset, log=lambda m: None)
    assert not record["passed"]
    assert not any(check["passed"] for check in record["checks"].values())
    assert all("over the tolerance" in check["problems"][0] for check in record["checks"].values())
    # Other weights are not rounding: the float32 modules sit next to their float64 runs, the graphs far from them.
    for check in record["checks"].values():
        assert check["fromFloat64"]["torchFloat32"] < 1e-5 < check["tolerance"] < check["fromFloat64"]["onnx"]
    assert json.loads((preset / RECORD).read_text()) == record
    assert report(record, preset) == 1
    captured = capsys.readouterr()
    assert "PARITY FAILED" in captured.err
    assert "from the module in float64: the float32 module" in captured.out


def test_nan_and_black_outputs_fail_whatever_the_difference(exported, tmp_path):
    preset = tmp_path / "preset"
    exporter.export_preset(toy_sources(tmp_path, seed=0), TOY_VARIANT, PRECISIONS["fp32"], preset, log=lambda m: None)
    sources = toy_sources(tmp_path, seed=0)
    # The module says NaN: the output cannot be compared.
    sources.clip_text.text_projection.weight.data[0, 0] = float("nan")
    record = check_parity(sources, preset, log=lambda m: None)
    assert record["checks"]["clipText"]["problems"] == ["NaN or infinity in the output"]
    assert record["checks"]["clipText"]["relativeDifference"] is None
    json.loads((preset / RECORD).read_text())  # still strict JSON
    # A graph that decodes black fails, though its module decodes the same black image.
    sources = toy_sources(tmp_path, seed=0)
    with torch.no_grad():
        for parameter in sources.vae.parameters():
            parameter.zero_()
        sources.vae.conv_out.bias.fill_(-1.0)
    exporter.export_preset(sources, TOY_VARIANT, PRECISIONS["fp32"], preset, log=lambda m: None)
    black = check_parity(sources, preset, log=lambda m: None)["checks"]["vaeDecoder"]
    assert black["maxAbsDifference"] == 0 and black["problems"] == ["the decoded image is black"]


def test_a_module_that_cannot_run_in_float64_leaves_its_reason_and_the_verdict_stands(tmp_path, capsys):
    import models.export.parity as parity

    class Float32Only(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            if self.weight.dtype != torch.float32:
                raise RuntimeError("float32 kernels only\nmore detail")
            return x * self.weight

    module = Float32Only()
    yardstick = parity._float64_yardstick(module, {"x": torch.ones(2)}, torch.ones(2), torch.ones(2), "cpu")
    assert yardstick == {"unavailable": "the module did not run in float64: float32 kernels only"}
    assert module.weight.dtype == torch.float32
    record = {"passed": False, "checks": {"vaeDecoder": {"relativeDifference": 0.5, "tolerance": 1e-4, "passed": False, "problems": ["over"], "fromFloat64": yardstick}}}
    assert report(record, tmp_path) == 1
    assert "no float64 yardstick: the module did not run in float64: float32 kernels only" in capsys.readouterr().out
