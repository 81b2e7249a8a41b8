"""twin_sources: what the exporter receives besides the modules."""
import pytest
import torch

from models.twins.sources import twin_sources


def test_unclip_h_twins_have_an_identity_normalizer_and_its_sizes():
    sources = twin_sources("unclip-h", latent=8, width=8)
    assert torch.equal(sources.normalizer_mean, torch.zeros(1, 1024)) and torch.equal(sources.normalizer_std, torch.ones(1, 1024))
    assert (sources.image_size, sources.latent_downsample, sources.clip_image_size, sources.prompt_hidden_size) == (64, 8, 224, 128)
    assert sources.unet.config.projection_class_embeddings_input_dim == 2048 and sources.prompt_layers_to_skip == 0
    assert sources.prompt_tokenizer.pad == 0 and sources.clip_tokenizer.pad == sources.clip_tokenizer.eos


def test_unclip_l_twins_have_seeded_normalizer_statistics():
    first, again, other = (twin_sources("unclip-l", latent=8, width=8, seed=s) for s in (3, 3, 4))
    assert torch.equal(first.normalizer_mean, again.normalizer_mean) and not torch.equal(first.normalizer_mean, other.normalizer_mean)
    assert first.normalizer_mean.shape == (1, 768) and bool((first.normalizer_std > 0).all())


@pytest.mark.parametrize("latent", [12, 0])
def test_latents_the_unet_cannot_halve_three_times_are_refused(latent):
    with pytest.raises(ValueError, match="multiple of 8"):
        twin_sources("unclip-l", latent=latent, width=8)
