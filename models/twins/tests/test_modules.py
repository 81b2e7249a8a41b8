"""The twins' parameter names, their attention as models/export/precision.py sees it, and the
behaviour the exporter relies on. Names and shapes are checked on full-size modules built on the
meta device; computations on narrow twins (width ÷ 8) at small latent sizes."""
import pytest
import torch

from models.export.precision import Float32Attention, is_diffusers_attention, keep_attention_in_float32
from models.export.wrappers import PromptHiddenStates
from models.twins.configs import TWIN_CONFIGS
from models.twins.build import build_twins, twin_configs

# One key of each kind of module, with the shape diffusers / transformers give it for unclip-l.
UNET_KEYS = {
    "conv_in.weight": (320, 4, 3, 3),
    "time_embedding.linear_1.weight": (1280, 320),
    "time_embedding.linear_2.bias": (1280,),
    "class_embedding.linear_1.weight": (1280, 1536),
    "class_embedding.linear_2.weight": (1280, 1280),
    "down_blocks.0.resnets.0.norm1.weight": (320,),
    "down_blocks.0.resnets.0.time_emb_proj.weight": (320, 1280),
    "down_blocks.0.attentions.0.norm.weight": (320,),
    "down_blocks.0.attentions.0.proj_in.weight": (320, 320),
    "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight": (320, 320),
    "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight": (320, 1024),
    "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_out.0.bias": (320,),
    "down_blocks.0.attentions.0.transformer_blocks.0.norm3.weight": (320,),
    "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.0.proj.weight": (2560, 320),
    "down_blocks.0.attentions.0.transformer_blocks.0.ff.net.2.weight": (320, 1280),
    "down_blocks.0.downsamplers.0.conv.weight": (320, 320, 3, 3),
    "down_blocks.1.resnets.0.conv_shortcut.weight": (640, 320, 1, 1),
    "down_blocks.3.resnets.1.conv2.weight": (1280, 1280, 3, 3),
    "mid_block.attentions.0.proj_out.weight": (1280, 1280),
    "mid_block.attentions.0.transformer_blocks.0.attn1.to_v.weight": (1280, 1280),
    "mid_block.resnets.1.norm2.bias": (1280,),
    "up_blocks.0.resnets.0.conv1.weight": (1280, 2560, 3, 3),
    "up_blocks.0.upsamplers.0.conv.weight": (1280, 1280, 3, 3),
    "up_blocks.1.attentions.2.proj_in.weight": (1280, 1280),
    "up_blocks.3.resnets.0.conv1.weight": (320, 960, 3, 3),
    "up_blocks.3.resnets.2.conv_shortcut.weight": (320, 640, 1, 1),
    "conv_norm_out.weight": (320,),
    "conv_out.weight": (4, 320, 3, 3),
}
VAE_KEYS = {
    "post_quant_conv.weight": (4, 4, 1, 1),
    "decoder.conv_in.weight": (512, 4, 3, 3),
    "decoder.mid_block.resnets.0.conv1.weight": (512, 512, 3, 3),
    "decoder.mid_block.attentions.0.group_norm.weight": (512,),
    "decoder.mid_block.attentions.0.to_q.weight": (512, 512),
    "decoder.mid_block.attentions.0.to_k.bias": (512,),
    "decoder.mid_block.attentions.0.to_out.0.weight": (512, 512),
    "decoder.up_blocks.0.upsamplers.0.conv.weight": (512, 512, 3, 3),
    "decoder.up_blocks.2.resnets.0.conv_shortcut.weight": (256, 512, 1, 1),
    "decoder.up_blocks.3.resnets.2.conv2.weight": (128, 128, 3, 3),
    "decoder.conv_norm_out.bias": (128,),
    "decoder.conv_out.weight": (3, 128, 3, 3),
}
CLIP_TEXT_KEYS = {
    "text_model.embeddings.token_embedding.weight": (49408, 768),
    "text_model.embeddings.position_embedding.weight": (77, 768),
    "text_model.encoder.layers.11.self_attn.q_proj.weight": (768, 768),
    "text_model.encoder.layers.11.self_attn.out_proj.bias": (768,),
    "text_model.encoder.layers.0.layer_norm1.weight": (768,),
    "text_model.encoder.layers.0.mlp.fc1.weight": (3072, 768),
    "text_model.final_layer_norm.weight": (768,),
    "text_projection.weight": (768, 768),
}
CLIP_IMAGE_KEYS = {
    "vision_model.embeddings.class_embedding": (1024,),
    "vision_model.embeddings.patch_embedding.weight": (1024, 3, 14, 14),
    "vision_model.embeddings.position_embedding.weight": (257, 1024),
    "vision_model.pre_layrnorm.weight": (1024,),
    "vision_model.encoder.layers.23.mlp.fc2.weight": (1024, 4096),
    "vision_model.post_layernorm.bias": (1024,),
    "visual_projection.weight": (768, 1024),
}


@pytest.fixture(scope="module")
def full_size():
    return build_twins(TWIN_CONFIGS["unclip-l"], device="meta")


@pytest.fixture(scope="module")
def narrow():
    torch.set_num_threads(1)
    return build_twins(twin_configs("unclip-l", latent=8, width=8), seed=1)


@pytest.mark.parametrize("module, expected", [("unet", UNET_KEYS), ("vae", VAE_KEYS), ("clip_text", CLIP_TEXT_KEYS), ("clip_image", CLIP_IMAGE_KEYS)])
def test_state_dict_names_and_shapes_are_the_libraries(full_size, module, expected):
    state = getattr(full_size, module).state_dict()
    assert {key: tuple(state[key].shape) for key in expected if key in state} == expected
    # The libraries' position ids are non-persistent buffers: a checkpoint has none, so neither may the twin.
    assert not [key for key in state if key.endswith("position_ids")]


def test_the_prompt_encoder_has_the_checkpoints_23_layers_and_no_projection(full_size):
    state = full_size.prompt_encoder.state_dict()
    layers = {int(key.split(".")[3]) for key in state if key.startswith("text_model.encoder.layers.")}
    assert layers == set(range(23))
    assert tuple(state["text_model.embeddings.token_embedding.weight"].shape) == (49408, 1024)
    assert not [key for key in state if "projection" in key]


def test_precision_py_finds_and_patches_every_attention(full_size):
    # 16 Transformer2DModels (2 per down level with attention × 3, 1 mid, 3 per up level × 3), two attentions each; one in the VAE.
    assert sum(is_diffusers_attention(m) for m in full_size.unet.modules()) == 32
    assert keep_attention_in_float32(full_size.unet) == 32 and keep_attention_in_float32(full_size.vae) == 1
    assert all(isinstance(m.processor, Float32Attention) for m in full_size.unet.modules() if is_diffusers_attention(m))
    assert all(m.upcast_attention for m in full_size.unet.modules() if is_diffusers_attention(m))


def test_float32_attention_computes_what_the_twins_processor_computes(narrow):
    args = (torch.randn(2, 4, 8, 8), torch.tensor([501.0]), torch.randn(2, 77, 128))
    labels = torch.randn(2, 1536)
    with torch.no_grad():
        before = (narrow.unet(*args, class_labels=labels, return_dict=False)[0], narrow.vae.decode(args[0], return_dict=False)[0])
        keep_attention_in_float32(narrow.unet), keep_attention_in_float32(narrow.vae)
        after = (narrow.unet(*args, class_labels=labels, return_dict=False)[0], narrow.vae.decode(args[0], return_dict=False)[0])
    for a, b in zip(before, after):
        assert torch.allclose(a, b, atol=1e-5)
    assert before[0].shape == (2, 4, 8, 8) and before[1].shape == (2, 3, 64, 64)


def test_unet_rows_are_independent_and_conditioned(narrow):
    """A row's output depends on its own inputs only (what a dynamic batch axis needs), and on its class labels and timestep."""
    sample, hidden, labels = torch.randn(3, 4, 8, 8), torch.randn(3, 77, 128), torch.randn(3, 1536)
    t = torch.tensor([501.0])
    with torch.no_grad():
        batch = narrow.unet(sample, t, hidden, class_labels=labels, return_dict=False)[0]
        rows = torch.cat([narrow.unet(sample[i : i + 1], t, hidden[i : i + 1], class_labels=labels[i : i + 1], return_dict=False)[0] for i in range(3)])
        other_labels = narrow.unet(sample, t, hidden, class_labels=labels.flip(0), return_dict=False)[0]
        other_time = narrow.unet(sample, torch.tensor([21.0]), hidden, class_labels=labels, return_dict=False)[0]
    assert torch.allclose(batch, rows, atol=1e-5)
    assert not torch.allclose(batch[0], other_labels[0], atol=1e-4)
    assert not torch.allclose(batch, other_time, atol=1e-4)
    with pytest.raises(ValueError, match="multiples of 8"):
        narrow.unet(torch.randn(1, 4, 12, 12), t, hidden[:1], class_labels=labels[:1])


def test_text_tower_pools_at_the_end_of_text_token_after_causal_attention(narrow):
    """transformers' legacy pooling (eos_token_id 2): the largest id, the end-of-text token in CLIP's
    vocabulary; the causal mask keeps every token after it out of the embedding."""
    ids = torch.randint(1, 600, (2, 77))
    ids[:, 5] = 49407  # end of text
    changed_after, changed_before = ids.clone(), ids.clone()
    changed_after[:, 30] = 7
    changed_before[:, 2] = 7
    with torch.no_grad():
        embeds = [narrow.clip_text(x).text_embeds for x in (ids, changed_after, changed_before)]
    assert embeds[0].shape == (2, 768)
    assert torch.allclose(embeds[0], embeds[1], atol=1e-6)
    assert not torch.allclose(embeds[0], embeds[2], atol=1e-4)


def test_image_tower_embeds_224_pixel_images_only(narrow):
    with torch.no_grad():
        assert narrow.clip_image(torch.randn(2, 3, 224, 224)).image_embeds.shape == (2, 768)
    with pytest.raises(ValueError, match="224"):
        narrow.clip_image(torch.randn(1, 3, 96, 96))


def test_prompt_encoder_output_is_its_last_layer_after_the_final_norm(narrow):
    ids = torch.randint(0, 685, (2, 77))
    with torch.no_grad():
        out = narrow.prompt_encoder(ids, output_hidden_states=True)
        assert len(out.hidden_states) == 24  # the embeddings and 23 layers
        assert torch.allclose(PromptHiddenStates(narrow.prompt_encoder, 0)(ids), out.last_hidden_state)
        assert out.last_hidden_state.shape == (2, 77, 128)


def test_same_seed_same_weights_other_seed_other_weights():
    configs = twin_configs("unclip-h", latent=8, width=8)
    a, b, c = build_twins(configs, seed=4), build_twins(configs, seed=4), build_twins(configs, seed=5)
    for name in ("unet", "vae", "clip_text", "clip_image", "prompt_encoder"):
        sa, sb, sc = (getattr(t, name).state_dict() for t in (a, b, c))
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
        assert not all(torch.equal(sa[k], sc[k]) for k in sa), name
        # another twin's state dict loads with strict=True: the names are fixed by the architecture, not the seed
        getattr(c, name).load_state_dict(sa, strict=True)
