"""load.py's decisions that do not need diffusers / transformers, checked on the twins (models/twins):
the text tower's projection width, the prompt encoder's layer, and the fit of the modules to the variant.
Full-size twins are built on the meta device, where load_state_dict still checks every shape."""
from dataclasses import replace

import pytest
import torch

from models.export.load import check_components, clip_text_config, prompt_layers_to_skip
from models.export.variants import UNCLIP_H, UNCLIP_L
from models.export.wrappers import PromptHiddenStates
from models.twins.build import build_twins, twin_configs
from models.twins.clip import CLIPTextModel, CLIPTextModelWithProjection
from models.twins.configs import TWIN_CONFIGS, ClipTextConfig

# The shape of a LAION CLIPModel config.json: the projection width at the top level only.
LAION_CONFIG = {
    "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 1024,
    "text_config": {"model_type": "clip_text_model", "hidden_act": "gelu", "hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
                    "num_hidden_layers": 24},
    "vision_config": {"hidden_size": 1280, "num_hidden_layers": 32, "patch_size": 14},
}


def h_text_tower_state():
    return CLIPTextModelWithProjection(TWIN_CONFIGS["unclip-h"].clip_text, device="meta").state_dict()


def test_a_laion_config_without_a_text_projection_dim_builds_the_1024_wide_projection():
    # What load.py used to build: the text_config alone, where transformers defaults projection_dim to 512.
    naive = CLIPTextModelWithProjection(ClipTextConfig.from_dict(LAION_CONFIG["text_config"]), device="meta")
    with pytest.raises(RuntimeError, match="size mismatch for text_projection.weight"):
        naive.load_state_dict(h_text_tower_state(), strict=True)
    fixed = clip_text_config(LAION_CONFIG, UNCLIP_H)
    assert fixed["projection_dim"] == 1024 and fixed["num_hidden_layers"] == 24
    CLIPTextModelWithProjection(ClipTextConfig.from_dict(fixed), device="meta").load_state_dict(h_text_tower_state(), strict=True)


def test_text_config_dict_overrides_text_config_and_a_tower_config_is_used_as_it_is():
    older = {**LAION_CONFIG, "text_config": {"num_hidden_layers": 12, "hidden_size": 512}, "text_config_dict": LAION_CONFIG["text_config"]}
    assert clip_text_config(older, UNCLIP_H)["num_hidden_layers"] == 24
    tower = {"model_type": "clip_text_model", "hidden_size": 768, "num_hidden_layers": 12}
    assert clip_text_config(tower, UNCLIP_L) == {**tower, "projection_dim": 768}


@pytest.mark.parametrize("config", [LAION_CONFIG, {"model_type": "clip_text_model", "projection_dim": 1024}])
def test_a_text_repository_of_another_width_is_refused(config):
    with pytest.raises(ValueError, match="projects to 1024 dimensions; unclip-l embeds in D = 768"):
        clip_text_config(config, UNCLIP_L)


def test_the_prompt_encoder_ends_at_sd2s_23rd_layer_whether_it_has_23_or_24():
    assert [prompt_layers_to_skip(n) for n in (23, 24)] == [0, 1]
    with pytest.raises(ValueError, match="fewer than SD 2.x's 23"):
        prompt_layers_to_skip(22)
    # The checkpoint's 23 layers, and the whole 24-layer OpenCLIP tower sharing those 23: one output.
    torch.manual_seed(0)
    small = twin_configs("unclip-l", latent=8, width=8).prompt_encoder
    checkpoint, whole = CLIPTextModel(small).eval(), CLIPTextModel(replace(small, num_hidden_layers=24)).eval()
    assert whole.load_state_dict(checkpoint.state_dict(), strict=False).missing_keys == [k for k in whole.state_dict() if ".layers.23." in k]
    ids = torch.randint(0, 685, (2, 77))
    with torch.no_grad():
        ours = PromptHiddenStates(checkpoint, prompt_layers_to_skip(23))(ids)
        theirs = PromptHiddenStates(whole, prompt_layers_to_skip(24))(ids)
        last = PromptHiddenStates(whole, 0)(ids)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert not torch.allclose(ours, last, atol=1e-3)


def test_the_twins_fit_their_variant_and_not_the_other():
    twins_l = build_twins(TWIN_CONFIGS["unclip-l"], device="meta")
    check_components(UNCLIP_L, twins_l.unet, twins_l.clip_image, twins_l.clip_text, twins_l.prompt_encoder)
    with pytest.raises(ValueError) as refused:
        check_components(UNCLIP_H, twins_l.unet, twins_l.clip_image, twins_l.clip_text, twins_l.prompt_encoder)
    assert str(refused.value).endswith("image tower projection_dim is 768, expected 1024; text tower projection_dim is 768, expected 1024; "
                                       "UNet projection_class_embeddings_input_dim is 1536, expected 2048")
