"""The twins' sizes against the published ones. Full-size modules are built on the meta device
(no memory, no initialisation), so these tests take about a second.

- UNets: 869,517,764 (unclip-l) and 870,173,124 (unclip-h) parameters, the counts of diffusers'
  UNet2DConditionModel built from the two checkpoints' configs (issue 15).
- VAE decoder with post_quant_conv, and the CLIP towers: counted here by arithmetic from the
  published configuration numbers, written out below, and checked against the sizes OpenCLIP
  publishes for ViT-L/14 and ViT-H/14 (docs/model_profile.csv of mlfoundations/open_clip, in millions).
"""
import pytest

from models.twins.clip import CLIPTextModel, CLIPTextModelWithProjection, CLIPVisionModelWithProjection
from models.twins.configs import TWIN_CONFIGS
from models.twins.unet import UNet2DConditionModel
from models.twins.vae import AutoencoderKL


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def transformer_layers(hidden: int, intermediate: int, layers: int) -> int:
    attention = 4 * (hidden * hidden + hidden)  # q, k, v, out projections with biases
    norms = 2 * (2 * hidden)
    mlp = hidden * intermediate + intermediate + intermediate * hidden + hidden
    return layers * (attention + norms + mlp)


def text_tower(hidden, intermediate, layers, projection=None, vocab=49408, positions=77) -> int:
    embeddings = vocab * hidden + positions * hidden
    projection_weights = hidden * projection if projection else 0  # no bias
    return embeddings + transformer_layers(hidden, intermediate, layers) + 2 * hidden + projection_weights


def image_tower(hidden, intermediate, layers, projection, patch=14, image=224) -> int:
    patches = (image // patch) ** 2
    embeddings = hidden + 3 * patch * patch * hidden + (patches + 1) * hidden  # class token, patch conv (no bias), positions
    return embeddings + 2 * hidden + transformer_layers(hidden, intermediate, layers) + 2 * hidden + hidden * projection


def resnet(cin: int, cout: int) -> int:
    """A VAE resnet block: two GroupNorms, two 3×3 convolutions, a 1×1 shortcut when widths differ."""
    shortcut = cin * cout + cout if cin != cout else 0
    return 2 * cin + 9 * cin * cout + cout + 2 * cout + 9 * cout * cout + cout + shortcut


def vae_decoder_with_post_quant_conv() -> int:
    post_quant_conv = 4 * 4 + 4
    conv_in = 9 * 4 * 512 + 512
    mid = 2 * resnet(512, 512) + 2 * 512 + 4 * (512 * 512 + 512)  # group norm, q/k/v/out with biases
    upsampler = lambda c: 9 * c * c + c  # noqa: E731
    up = [
        3 * resnet(512, 512) + upsampler(512),
        3 * resnet(512, 512) + upsampler(512),
        resnet(512, 256) + 2 * resnet(256, 256) + upsampler(256),
        resnet(256, 128) + 2 * resnet(128, 128),
    ]
    conv_norm_out, conv_out = 2 * 128, 9 * 128 * 3 + 3
    return post_quant_conv + conv_in + mid + sum(up) + conv_norm_out + conv_out


@pytest.mark.parametrize("variant, expected", [("unclip-l", 869_517_764), ("unclip-h", 870_173_124)])
def test_unet_has_the_published_parameter_count(variant, expected):
    assert count(UNet2DConditionModel(TWIN_CONFIGS[variant].unet, device="meta")) == expected


def test_vae_decoder_with_post_quant_conv_has_49_49_million_parameters():
    derived = vae_decoder_with_post_quant_conv()
    assert derived == 49_490_199
    assert round(derived / 1e6, 2) == 49.49
    for variant in TWIN_CONFIGS:
        assert count(AutoencoderKL(TWIN_CONFIGS[variant].vae, device="meta")) == derived


@pytest.mark.parametrize("variant, text, image, derived, openclip_millions", [
    # ViT-L/14 (OpenAI): text 768 wide, 3072 MLP, 12 layers; image 1024 wide, 4096 MLP, 24 layers; D = 768
    ("unclip-l", dict(hidden=768, intermediate=3072, layers=12, projection=768), dict(hidden=1024, intermediate=4096, layers=24, projection=768),
     (123_650_304, 303_966_208), (123.65, 303.97)),
    # ViT-H/14 (OpenCLIP): text 1024 wide, 4096 MLP, 24 layers; image 1280 wide, 5120 MLP, 32 layers; D = 1024
    ("unclip-h", dict(hidden=1024, intermediate=4096, layers=24, projection=1024), dict(hidden=1280, intermediate=5120, layers=32, projection=1024),
     (354_032_640, 632_076_800), (354.03, 632.08)),
])
def test_clip_towers_have_the_counts_their_configs_give(variant, text, image, derived, openclip_millions):
    configs = TWIN_CONFIGS[variant]
    text_count, image_count = text_tower(**text), image_tower(**image)
    assert (text_count, image_count) == derived
    assert count(CLIPTextModelWithProjection(configs.clip_text, device="meta")) == text_count
    assert count(CLIPVisionModelWithProjection(configs.clip_image, device="meta")) == image_count
    assert (round(text_count / 1e6, 2), round(image_count / 1e6, 2)) == openclip_millions


def test_prompt_encoder_is_the_23_layer_open_clip_h_text_tower_without_projection():
    derived = text_tower(hidden=1024, intermediate=4096, layers=23)
    assert derived == 340_387_840
    for variant in TWIN_CONFIGS:
        assert count(CLIPTextModel(TWIN_CONFIGS[variant].prompt_encoder, device="meta")) == derived
