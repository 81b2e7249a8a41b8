"""models.twins.vae_attention_error at a reduced size: both attention forms are exported and measured
against float64, and at this size both graphs stay within parity's fp32 tolerance of it."""
from models.twins import vae_attention_error


def test_both_attention_forms_are_measured_against_float64():
    result = vae_attention_error.measure("unclip-l", latent=16, width=8)
    assert set(result) >= {"torchFloat32", "fused", "unfused"}
    for attention in ("fused", "unfused"):
        assert result[attention]["attentionModules"] >= 1
        assert 0 < result[attention]["fromFloat64"] < 1e-4
        assert 0 < result[attention]["fromTorchFloat32"] < 1e-4
    assert 0 < result["torchFloat32"] < 1e-5
