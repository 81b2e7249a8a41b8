"""The exporter end to end on tiny stand-ins (tests/toy_models.py), checked as the engine reads presets.

Low precision is exercised with bfloat16: torch 1.13's CPU kernels lack float16 and tracing runs the
model, so a float16 trace needs CUDA (docs/real-presets.md, "Not run by the test suite"). The code
path is the same; only the dtype differs.
"""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, shape_inference

from models.export import export_preset as exporter
from models.export.__main__ import main as cli_main
from models.export.load import MissingDependencies, import_libraries
from models.export.onnx_files import export_graph
from models.export.precision import Float32Attention, Precision, PRECISIONS, keep_attention_in_float32
from models.export.tests.toy_models import REPO, TOY_VARIANT, ToyClipTextModel, ToyUNet, ToyVae, toy_sources
from models.export.wrappers import PromptHiddenStates, UNetWithClassLabels
from models.training import contract, train_adapter

pytestmark = pytest.mark.filterwarnings("ignore:Exporting aten::index operator")  # the toy text tower's argmax pooling
LOW = Precision("bf16", torch.bfloat16, "cpu")  # the CPU-traceable stand-in for fp16
GRAPHS = {"clipText": "clip_text.onnx", "clipImage": "clip_image.onnx", "promptEncoder": "prompt_encoder.onnx", "unet": "unet.onnx", "vaeDecoder": "vae_decoder.onnx"}
ADAPTER_ISSUES = {"adapter", "bridge", "uncertainty", "files.adapterText", "files.adapterImage"}
TSX = REPO / "node_modules" / ".bin" / "tsx"


def check_with_engine(folder: Path, batch: int = 2) -> dict:
    """tests/check_preset.ts: the engine's schema, hashes, contract check and a run of each model at `batch`."""
    done = subprocess.run([str(TSX), str(Path(__file__).with_name("check_preset.ts")), str(folder), str(batch)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def element_types(model: onnx.ModelProto) -> dict:
    inferred = shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output)}
    types.update({t.name: t.data_type for t in inferred.graph.initializer})
    return types


def softmax_input_types(path: Path) -> list:
    model = onnx.load(str(path))
    types = element_types(model)
    return [TensorProto.DataType.Name(types[n.input[0]]) for n in model.graph.node if n.op_type == "Softmax"]


def score_matmul_input_types(path: Path) -> list:
    """Types of the inputs of every MatMul whose output reaches a Softmax through Mul/Add (QKᵀ)."""
    model = onnx.load(str(path))
    types = element_types(model)
    producer = {out: node for node in model.graph.node for out in node.output}
    found = []
    for softmax in (n for n in model.graph.node if n.op_type == "Softmax"):
        node = producer[softmax.input[0]]
        while node.op_type in ("Mul", "Add", "Div"):
            node = next(producer[i] for i in node.input if i in producer and producer[i].op_type in ("MatMul", "Mul", "Add", "Div"))
        assert node.op_type == "MatMul"
        found.append([TensorProto.DataType.Name(types[i]) for i in node.input])
    return found


@pytest.fixture(scope="module")
def presets(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("presets")
    # threshold 0: every fp32 graph stores its weights as external data, as the real fp32 UNet must.
    fp32 = exporter.export_preset(toy_sources(root), TOY_VARIANT, PRECISIONS["fp32"], root / "fp32", external_data_threshold=0, log=lambda m: None)
    # The op-by-op form, whose float32 softmax the tests below inspect.
    low = exporter.export_preset(toy_sources(root), TOY_VARIANT, LOW, root / "low", log=lambda m: None, attention="unfused")
    return root, fp32, low


def test_every_graph_meets_the_contract_in_both_precisions(presets):
    root, fp32, low = presets
    for folder in ("fp32", "low"):
        for key, filename in GRAPHS.items():
            assert contract.violations(key, root / folder / filename) == [], (folder, key)
    assert not fp32["complete"] and set(fp32["missing"]) == ADAPTER_ISSUES


def test_fp32_weights_go_to_external_data_when_large(presets):
    root, fp32, low = presets
    assert "unet.onnx.data" in fp32["files"] and (root / "fp32" / "unet.onnx.data").stat().st_size > 0
    assert not any(name.endswith(".data") for name in low["files"])
    config = json.loads((root / "fp32" / "preset.json").read_text())
    assert set(config["provenance"]["fileHashes"]) == set(fp32["files"])


def test_preset_json_carries_the_checkpoint_facts(presets):
    root, _, _ = presets
    config = json.loads((root / "fp32" / "preset.json").read_text())
    assert config["scheduler"] == {"type": "pndm", "betaSchedule": "scaled_linear", "betaStart": 0.00085, "betaEnd": 0.012, "trainTimesteps": 1000,
                                   "predictionType": "v_prediction", "stepsOffset": 1, "timestepSpacing": "leading"}
    assert config["noiseAugmentation"]["mean"][0] == -0.5 and config["noiseAugmentation"]["std"][-1] == 1.5
    assert config["promptTokenizer"]["pad"] == 0 and config["tokenizer"]["pad"] == 684
    assert config["image"] == {"size": 32, "clip": {"size": 16, "mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711], "resize": "shortest-side-bicubic"}}
    assert config["latent"] == {"channels": 4, "downsample": 4, "scalingFactor": 0.18215}
    assert config["provenance"]["sources"]["clipText"] == {"id": "toy/clip", "revision": "1" * 40}
    assert (root / "fp32" / "tokenizer" / "prompt" / "vocab.json").read_bytes() == (REPO / "models/shapes/tokenizer/vocab.json").read_bytes()


def test_the_engine_opens_and_runs_the_adapterless_export(presets):
    root, _, _ = presets
    report = check_with_engine(root / "fp32")
    # The schema demands the adapter the second step adds, and nothing else.
    assert {issue["path"] for issue in report["schemaIssues"]} == ADAPTER_ISSUES
    assert report["hashMismatches"] == []
    outputs = {key: model["outputs"] for key, model in report["models"].items()}
    assert outputs["unet"] == {"out_sample": {"dims": [2, 4, 8, 8], "finite": True}}
    assert outputs["vaeDecoder"] == {"sample": {"dims": [2, 3, 32, 32], "finite": True}}
    assert outputs["clipText"]["text_embeds"]["dims"] == [2, 8] and outputs["clipImage"]["image_embeds"]["dims"] == [2, 8]
    assert outputs["promptEncoder"]["last_hidden_state"]["dims"] == [2, 77, 16]


def test_graphs_traced_at_batch_one_run_at_batch_two_and_three(presets):
    root, _, _ = presets
    for batch in (2, 3):
        outputs = {key: model["outputs"] for key, model in check_with_engine(root / "fp32", batch)["models"].items()}
        assert outputs["unet"] == {"out_sample": {"dims": [batch, 4, 8, 8], "finite": True}}
        assert outputs["vaeDecoder"] == {"sample": {"dims": [batch, 3, 32, 32], "finite": True}}
        assert outputs["clipText"]["text_embeds"]["dims"] == [batch, 8]


def test_each_network_takes_the_export_dtype_only_when_its_turn_comes(tmp_path, monkeypatch):
    """One network at a time on the export device: the UNet and VAE are still float32 while the
    towers are traced, and the UNet is traced at batch 1."""
    sources = toy_sources(tmp_path)
    seen = []
    real_export_graph = exporter.export_graph

    def recording_export_graph(module, args, folder, filename, *rest, **kwargs):
        dtypes = {name: next(getattr(sources, name).parameters()).dtype for name in ("unet", "vae")}
        seen.append((filename, args[0].shape[0], dtypes["unet"], dtypes["vae"]))
        return real_export_graph(module, args, folder, filename, *rest, **kwargs)

    monkeypatch.setattr(exporter, "export_graph", recording_export_graph)
    exporter.export_preset(sources, TOY_VARIANT, LOW, tmp_path / "low", log=lambda m: None)
    f32, low = torch.float32, LOW.dtype
    assert seen == [("clip_text.onnx", 2, f32, f32), ("clip_image.onnx", 1, f32, f32), ("prompt_encoder.onnx", 2, f32, f32),
                    ("unet.onnx", 1, low, f32), ("vae_decoder.onnx", 1, low, low)]


def test_low_precision_keeps_qk_and_softmax_in_float32(presets):
    root, _, _ = presets
    for filename in ("unet.onnx", "vae_decoder.onnx"):
        path = root / "low" / filename
        model = onnx.load(str(path))
        assert {TensorProto.DataType.Name(t.data_type) for t in model.graph.initializer if t.name.endswith("conv_in.weight")} == {"BFLOAT16"}
        assert softmax_input_types(path) and set(softmax_input_types(path)) == {"FLOAT"}
        assert all(types == ["FLOAT", "FLOAT"] for types in score_matmul_input_types(path))
        io = [v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)]
        assert set(io) == {TensorProto.FLOAT}, filename


def test_fused_low_precision_attention_is_one_node_fed_in_the_weights_dtype(tmp_path):
    """The fused form leaves the float32 accumulation to onnxruntime's kernel: no score tensor, no upcast, in the graph."""
    exporter.export_preset(toy_sources(tmp_path), TOY_VARIANT, LOW, tmp_path / "fused", log=lambda m: None)
    for filename, attentions in (("unet.onnx", 2), ("vae_decoder.onnx", 1)):
        model = onnx.load(str(tmp_path / "fused" / filename))
        types = element_types(model)
        nodes = [n for n in model.graph.node if n.op_type == "MultiHeadAttention"]
        assert len(nodes) == attentions and not any(n.op_type == "Softmax" for n in model.graph.node)
        assert {TensorProto.DataType.Name(types[i]) for n in nodes for i in n.input} == {"BFLOAT16"}
    config = json.loads((tmp_path / "fused" / "preset.json").read_text())
    assert "MultiHeadAttention" in config["provenance"]["attention"] and config["provenance"]["exportedBy"].endswith("--attention fused")


def test_without_the_patch_low_precision_softmax_would_not_be_float32(tmp_path):
    """The control for the test above: the inspection does see low-precision attention."""
    unet = ToyUNet(class_dim=16).to(torch.bfloat16).eval()
    args = (torch.randn(2, 4, 8, 8), torch.tensor([501.0]), torch.randn(2, 77, 16), torch.randn(2, 16))
    export_graph(UNetWithClassLabels(unet), args, tmp_path, "unet.onnx", ["sample", "timestep", "encoder_hidden_states", "class_labels"], ["out_sample"], {})
    assert set(softmax_input_types(tmp_path / "unet.onnx")) == {"BFLOAT16"}


def test_float32_attention_computes_what_the_default_processor_computes():
    torch.manual_seed(3)
    unet, vae = ToyUNet(class_dim=16).eval(), ToyVae().eval()
    args = (torch.randn(2, 4, 8, 8), torch.tensor([501.0]), torch.randn(2, 77, 16))
    labels = torch.randn(2, 16)
    with torch.no_grad():
        before = (unet(*args, class_labels=labels, return_dict=False)[0], vae.decode(args[0], return_dict=False)[0])
        assert keep_attention_in_float32(unet) == 2 and keep_attention_in_float32(vae) == 1
        after = (unet(*args, class_labels=labels, return_dict=False)[0], vae.decode(args[0], return_dict=False)[0])
    for a, b in zip(before, after):
        assert torch.allclose(a, b, atol=1e-5)
    # with a mask, the processor adds it per head before the softmax
    attention, tokens = unet.attn1, torch.randn(2, 5, 16)
    mask = torch.zeros(2, 1, 5)
    mask[:, :, -1] = -1e4  # hide the last token
    with torch.no_grad():
        masked = Float32Attention()(attention, tokens, attention_mask=mask)
        unmasked_without_last = Float32Attention()(attention, tokens[:, :4], encoder_hidden_states=tokens[:, :4])
    assert torch.allclose(masked[:, :4], unmasked_without_last, atol=1e-5)


def test_prompt_encoder_skips_layers_then_applies_the_final_norm():
    encoder = ToyClipTextModel(layers=3).eval()
    ids = torch.randint(0, 1000, (2, 77))
    with torch.no_grad():
        out = encoder(ids, output_hidden_states=True)
        assert torch.allclose(PromptHiddenStates(encoder, 0)(ids), out.last_hidden_state)
        assert torch.allclose(PromptHiddenStates(encoder, 1)(ids), encoder.text_model.final_layer_norm(out.hidden_states[-2]))


def test_two_step_flow_adapter_then_copy_into_the_other_precision(presets, tmp_path):
    root, _, _ = presets
    fp32 = root / "fp32"
    sources = toy_sources(root)
    with torch.no_grad():  # pairs embedded by the same toy towers the preset exported
        images = sources.clip_image(torch.randn(64, 3, 16, 16)).image_embeds
        texts = sources.clip_text(torch.randint(0, 683, (64, 77))).text_embeds
    pairs = tmp_path / "pairs.npz"
    np.savez(pairs, image_embeds=images.numpy().astype(np.float32), text_embeds=texts.numpy().astype(np.float32))
    train_adapter.run(train_adapter.Options(pairs=pairs, preset=fp32, steps=20, batch=32), log=lambda m: None)
    report = check_with_engine(fp32)
    assert report["schemaIssues"] == [] and report["hashMismatches"] == []
    assert all("problem" not in model for model in report["models"].values())
    assert report["models"]["adapterText"]["outputs"]["mu"]["dims"] == [2, 8]

    copied = exporter.export_preset(toy_sources(root), TOY_VARIANT, LOW, tmp_path / "low", adapter_from=fp32, log=lambda m: None)
    assert copied["complete"]
    report = check_with_engine(tmp_path / "low")
    assert report["schemaIssues"] == [] and report["hashMismatches"] == []
    assert "outputs" in report["models"]["adapterImage"]


def test_adapter_from_refuses_another_clip_space(presets, tmp_path):
    root, _, _ = presets
    other = tmp_path / "other"
    shutil.copytree(root / "fp32", other)
    config = json.loads((other / "preset.json").read_text())
    config.update({"adapter": {}, "bridge": {"type": "none"}, "uncertainty": {}})
    config["files"].update({"adapterText": config["files"]["clipText"], "adapterImage": config["files"]["clipText"]})
    config["provenance"]["sources"]["clipText"] = {"id": "someone/else", "revision": "2" * 40}
    (other / "preset.json").write_text(json.dumps(config))
    sources = toy_sources(root)
    with pytest.raises(exporter.ExportError, match="clipText came from"):
        exporter.export_preset(sources, TOY_VARIANT, PRECISIONS["fp32"], tmp_path / "out", adapter_from=other, log=lambda m: None)


@pytest.mark.parametrize("change, message", [
    (lambda s: s.scheduler_config.update(skip_prk_steps=False), "PLMS steps only"),
    (lambda s: s.scheduler_config.update(_class_name="EulerDiscreteScheduler"), "no engine implementation"),
    (lambda s: s.noising_scheduler_config.update(beta_schedule="linear"), "squaredcos_cap_v2"),
    (lambda s: setattr(s, "normalizer_mean", torch.zeros(1, 7)), "D = 8"),
])
def test_checkpoints_the_engine_cannot_run_are_refused_before_exporting(tmp_path, change, message):
    sources = toy_sources(tmp_path)
    change(sources)
    with pytest.raises(exporter.ExportError, match=message):
        exporter.export_preset(sources, TOY_VARIANT, PRECISIONS["fp32"], tmp_path / "out", log=lambda m: None)
    assert not (tmp_path / "out").exists()


def test_missing_libraries_name_the_requirements_file():
    try:
        import_libraries()
    except MissingDependencies as error:
        assert "models/export/requirements.txt" in str(error)
    else:
        pytest.skip("diffusers, transformers and huggingface_hub are installed here")


def test_cli_refuses_fp16_without_cuda(capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(SystemExit):
        cli_main(["--variant", "unclip-l", "--precision", "fp16"])
    assert "needs a CUDA GPU" in capsys.readouterr().err
