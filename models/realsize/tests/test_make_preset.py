"""The synthetic real-size presets: docs/model-contract.md's signatures at the real unclip-l / unclip-h sizes."""
import json
from pathlib import Path

import onnx
import pytest

from models.realsize import make_preset
from models.training import contract, preset_io

FLOAT16 = onnx.TensorProto.FLOAT16


@pytest.fixture(scope="module", params=["l", "h"])
def preset(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"synthetic-{request.param}")
    assert make_preset.main(["--out", str(out), "--variant", request.param]) == 0
    return out, json.loads((out / "preset.json").read_text())


def signature(path: Path) -> dict:
    """name -> (element type, shape with symbolic dims as their names)."""
    graph = onnx.load(str(path)).graph
    return {
        value.name: (value.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim])
        for value in list(graph.input) + list(graph.output)
    }


def test_every_file_conforms_to_the_contract_and_matches_its_hash(preset):
    out, config = preset
    assert sorted(config["files"]) == sorted(contract.CONTRACT)
    for key, entry in config["files"].items():
        path = out / entry["path"]
        assert preset_io.sha256(path) == entry["sha256"]
        assert contract.violations(key, path) == [], key


def test_sizes_are_the_real_presets(preset):
    out, config = preset
    d = {"synthetic-unclip-l": 768, "synthetic-unclip-h": 1024}[config["name"]]
    assert config["embedding"]["dim"] == d
    files = {key: signature(out / entry["path"]) for key, entry in config["files"].items()}
    assert files["clipImage"]["pixel_values"][1] == ["batch", 3, 224, 224]
    assert files["clipText"]["text_embeds"][1] == ["batch", d]
    assert files["promptEncoder"]["last_hidden_state"][1] == ["batch", 77, 1024]
    for head in ("mu", "one_over_alpha", "beta"):
        assert files["adapterText"][head][1] == files["adapterImage"][head][1] == ["batch", d]
    unet = files["unet"]
    assert unet["sample"] == (FLOAT16, ["batch", 4, 96, 96])
    assert unet["encoder_hidden_states"] == (FLOAT16, ["batch", 77, 1024])
    assert unet["class_labels"] == (FLOAT16, ["batch", 2 * d])
    assert unet["timestep"] == (onnx.TensorProto.INT64, ["batch"])
    assert unet["out_sample"] == (FLOAT16, ["batch", 4, 96, 96])
    assert files["vaeDecoder"]["sample"][1] == ["batch", 3, 768, 768]
    assert config["image"]["size"] == 768 and config["image"]["clip"]["size"] == 224
    assert config["latent"] == {"channels": 4, "downsample": 8, "scalingFactor": 0.18215}


def test_vectors_have_length_d_and_the_preset_says_it_is_synthetic(preset):
    out, config = preset
    d = config["embedding"]["dim"]
    for vector in (config["noiseAugmentation"]["mean"], config["noiseAugmentation"]["std"], config["bridge"]["textMean"], config["bridge"]["imageMean"]):
        assert len(vector) == d
    identity = config["noiseAugmentation"]["mean"] == [0.0] * d and config["noiseAugmentation"]["std"] == [1.0] * d
    # docs/model-contract.md, "The presets there are": the -h normalizer is identity, the -l one carries real statistics.
    assert identity == (config["name"] == "synthetic-unclip-h")
    assert config["provenance"]["synthetic"] is True
    assert "SYNTHETIC" in config["description"] and "Synthetic" in config["title"]
    assert config["scheduler"]["type"] == "pndm" and config["scheduler"]["predictionType"] == "v_prediction"
    assert all(a <= b for a, b in zip(config["uncertainty"]["text"], config["uncertainty"]["text"][1:]))
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    assert total < 8 * 1024 * 1024


def test_building_again_gives_the_same_files(tmp_path):
    first = make_preset.build(tmp_path / "first", "l")
    second = make_preset.build(tmp_path / "second", "l")
    assert first["files"] == second["files"]


def test_unet_io_float32_declares_float32_tensors_and_records_the_flag(tmp_path):
    assert make_preset.main(["--out", str(tmp_path), "--unet-io", "float32"]) == 0
    config = json.loads((tmp_path / "preset.json").read_text())
    unet = signature(tmp_path / config["files"]["unet"]["path"])
    for name in ("sample", "encoder_hidden_states", "class_labels", "out_sample"):
        assert unet[name][0] == onnx.TensorProto.FLOAT, name
    assert unet["timestep"] == (onnx.TensorProto.INT64, ["batch"])
    assert config["provenance"]["madeBy"].endswith("--unet-io float32")
    assert contract.violations("unet", tmp_path / config["files"]["unet"]["path"]) == []
