"""Fused attention: the exporter's MultiHeadAttention graphs compute what the op-by-op float32 graphs
compute, on onnxruntime's CPU provider (through onnxruntime-node where Python lacks onnxruntime)."""
from __future__ import annotations

import onnx
import pytest
import torch

from models.export.fused_attention import DOMAIN, FusedAttention, fuse_attention
from models.export.onnx_files import export_graph
from models.export.onnx_runner import run_onnx
from models.export.precision import Float32Attention, keep_attention_in_float32
from models.export.tests.toy_models import ToyUNet, ToyVae
from models.export.wrappers import UNetWithClassLabels, VaeDecoder

UNET_INPUTS = ["sample", "timestep", "encoder_hidden_states", "class_labels"]
BATCH = {0: "batch"}
UNET_AXES = {"sample": BATCH, "encoder_hidden_states": BATCH, "class_labels": BATCH, "out_sample": BATCH}
# Float32 sums in another order (tiles, fused kernels) than torch's, on outputs of magnitude ~1.
TOLERANCE = 1e-4


def unet_args(batch: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 4, 8, 8, generator=generator), torch.tensor([501.0]), torch.randn(batch, 77, 16, generator=generator),
            torch.randn(batch, 16, generator=generator))


def op_types(path) -> list:
    return [node.op_type for node in onnx.load(str(path)).graph.node]


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    """The toy UNet and VAE decoder exported both ways, from the same weights."""
    root = tmp_path_factory.mktemp("attention")
    torch.manual_seed(5)
    unet, vae = ToyUNet(class_dim=16).eval(), ToyVae().eval()
    for form, install in (("unfused", keep_attention_in_float32), ("fused", fuse_attention)):
        folder = root / form
        folder.mkdir()
        assert install(unet) == 2 and install(vae) == 1
        export_graph(UNetWithClassLabels(unet), unet_args(1), folder, "unet.onnx", UNET_INPUTS, ["out_sample"], UNET_AXES)
        export_graph(VaeDecoder(vae), (torch.randn(1, 4, 8, 8),), folder, "vae_decoder.onnx", ["latent_sample"], ["sample"], {"latent_sample": BATCH, "sample": BATCH})
    return root, unet, vae


def test_fused_attention_computes_what_float32_attention_computes_in_torch():
    torch.manual_seed(1)
    unet = ToyUNet(class_dim=16).eval()
    for attention, context in ((unet.attn1, None), (unet.attn1, torch.randn(2, 7, 16))):
        tokens = torch.randn(2, 5, 16)
        with torch.no_grad():
            assert torch.equal(FusedAttention()(attention, tokens, encoder_hidden_states=context), Float32Attention()(attention, tokens, encoder_hidden_states=context))
    with pytest.raises(ValueError, match="without a mask"):
        FusedAttention()(unet.attn1, torch.randn(2, 5, 16), attention_mask=torch.zeros(2, 1, 5))


def test_the_fused_graphs_hold_one_multi_head_attention_node_per_attention_and_no_softmax(graphs):
    root, _, _ = graphs
    for filename, attentions in (("unet.onnx", 2), ("vae_decoder.onnx", 1)):
        fused, unfused = op_types(root / "fused" / filename), op_types(root / "unfused" / filename)
        assert fused.count("MultiHeadAttention") == attentions and "Softmax" not in fused
        assert unfused.count("Softmax") == attentions and "MultiHeadAttention" not in unfused
        imports = {entry.domain: entry.version for entry in onnx.load(str(root / "fused" / filename)).opset_import}
        assert imports.get(DOMAIN) == 1


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_fused_and_unfused_unet_graphs_agree_on_onnxruntime_at_every_batch(graphs, batch):
    root, unet, _ = graphs
    args = unet_args(batch, seed=batch)
    feeds = dict(zip(UNET_INPUTS, args))
    fused, unfused = (run_onnx(root / form / "unet.onnx", feeds)["out_sample"] for form in ("fused", "unfused"))
    with torch.no_grad():
        reference = unet(*args[:3], class_labels=args[3], return_dict=False)[0]
    assert fused.shape == (batch, 4, 8, 8)
    assert (fused - unfused).abs().max().item() < TOLERANCE
    assert (fused - reference).abs().max().item() < TOLERANCE


def test_fused_and_unfused_vae_graphs_agree_on_onnxruntime(graphs):
    root, _, vae = graphs
    latents = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(9))
    fused, unfused = (run_onnx(root / form / "vae_decoder.onnx", {"latent_sample": latents})["sample"] for form in ("fused", "unfused"))
    assert (fused - unfused).abs().max().item() < TOLERANCE
