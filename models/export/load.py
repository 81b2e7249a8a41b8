"""The one module that touches diffusers / transformers / huggingface_hub: it downloads (or finds in
the Hugging Face cache) a variant's checkpoints and returns plain torch modules in a `Sources`.

None of these libraries is installed with Debian's torch; they are imported here, lazily, so the
rest of models/export (and its tests) runs without them. Install them from requirements.txt.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from .checkpoint_tensors import NotATorchZip, read_tensor
from .sources import Sources, TokenizerFiles
from .variants import Variant

REQUIREMENTS = Path(__file__).with_name("requirements.txt")
# OpenCLIP ViT-H/14's text tower has 24 layers; SD 2.x conditions on the 23rd (the penultimate).
PENULTIMATE_LAYER = 23
UNCLIP_SUBFOLDERS = ("unet", "vae", "text_encoder", "tokenizer", "image_encoder", "image_normalizer", "image_noising_scheduler", "scheduler", "feature_extractor")
WEIGHT_SUBFOLDERS = ("unet", "vae", "text_encoder", "image_encoder", "image_normalizer")
BICUBIC = 3  # PIL's resample code, as CLIPImageProcessor stores it


class MissingDependencies(RuntimeError):
    pass


def import_libraries():
    """(diffusers, transformers, huggingface_hub), or a MissingDependencies naming requirements.txt."""
    try:
        import diffusers
        import huggingface_hub
        import transformers
    except ImportError as error:
        raise MissingDependencies(
            f"exporting real checkpoints needs {error.name!r}, which this Python lacks; on the machine with the weights run "
            f"`python3 -m pip install -r {REQUIREMENTS.relative_to(REQUIREMENTS.parents[2])}` (Debian's torch alone runs only the tests)"
        ) from error
    return diffusers, transformers, huggingface_hub


def _snapshot(huggingface_hub, repo_id: str, revision: Optional[str], patterns) -> Path:
    """A local folder with the repository's files at `revision`: a local path is used as it is."""
    if Path(repo_id).is_dir():
        return Path(repo_id)
    ignore = ["*fp16*", "*.ckpt", "*non_ema*", "*.msgpack", "*.h5", "*.onnx*"]
    root = Path(huggingface_hub.snapshot_download(repo_id, revision=revision, allow_patterns=patterns, ignore_patterns=ignore))
    return root


def _with_weights(huggingface_hub, repo_id: str, revision: Optional[str], root: Path, folders) -> None:
    """Fetches .bin weights only for folders that have no .safetensors (older revisions)."""
    if Path(repo_id).is_dir():
        return
    lacking = [f for f in folders if not list((root / f).glob("*.safetensors"))]
    if lacking:
        _snapshot(huggingface_hub, repo_id, revision, [f"{f}/*.bin" if f else "pytorch_model.bin" for f in lacking])


def _revision_of(root: Path, repo_id: str) -> str:
    # snapshot_download returns …/snapshots/<commit>; a local folder has no commit to report.
    return root.name if root.parent.name == "snapshots" else f"local folder {root}"


def _tokenizer_files(tokenizer, folder: Path) -> TokenizerFiles:
    vocab, merges = folder / "vocab.json", folder / "merges.txt"
    if not (vocab.exists() and merges.exists()):
        raise FileNotFoundError(f"{folder} has no vocab.json / merges.txt")
    return TokenizerFiles(vocab, merges, bos=int(tokenizer.bos_token_id), eos=int(tokenizer.eos_token_id), pad=int(tokenizer.pad_token_id),
                          context_length=int(tokenizer.model_max_length))


def _side(value: Any, *keys: str) -> int:
    if isinstance(value, dict):
        for key in keys:
            if key in value:
                return int(value[key])
        raise ValueError(f"preprocessor size {value} has none of {keys}")
    return int(value)


def _visual_projection(root: Path) -> Optional[torch.Tensor]:
    """The text source's own visual projection, to prove the text and image towers share a space.
    Only that tensor is read: the repository's other weights (≈ 3.9 GB for ViT-H) stay on disk."""
    safetensors_file = root / "model.safetensors"
    if safetensors_file.exists():
        from safetensors import safe_open

        with safe_open(str(safetensors_file), framework="pt") as f:
            return f.get_tensor("visual_projection.weight") if "visual_projection.weight" in f.keys() else None
    bin_file = root / "pytorch_model.bin"
    try:
        return read_tensor(bin_file, "visual_projection.weight") if bin_file.exists() else None
    except NotATorchZip:  # torch's pre-1.6 format: the comparison is skipped (recorded as null), not the export
        return None


def clip_text_config(config: Dict[str, Any], variant: Variant) -> Dict[str, Any]:
    """The text tower's config, from the text repository's config.json, with projection_dim = D.

    A CLIPModel repository's config.json keeps the projection width at its top level, which is what
    CLIPModel builds both projections with; its `text_config` may lack projection_dim (LAION's do),
    and CLIPTextModelWithProjection would then default to 512 and fail on the 1024-wide weights.
    `text_config_dict`, where present, overrides `text_config`, as transformers' CLIPConfig does.
    """
    if config.get("model_type") == "clip" or "text_config" in config or "text_config_dict" in config:
        text = {**(config.get("text_config") or {}), **(config.get("text_config_dict") or {})}
    else:  # a text tower's own config (model_type clip_text_model)
        text = dict(config)
    declared = config.get("projection_dim")
    if declared is not None and int(declared) != variant.embedding_dim:
        raise ValueError(f"{variant.clip_text_source} projects to {declared} dimensions; {variant.name} embeds in D = {variant.embedding_dim}")
    text["projection_dim"] = variant.embedding_dim
    return text


def prompt_layers_to_skip(num_hidden_layers: int) -> int:
    """How many final layers of the prompt encoder to skip so that its output is SD 2.x's layer 23."""
    if num_hidden_layers < PENULTIMATE_LAYER:
        raise ValueError(f"the prompt encoder has {num_hidden_layers} layers, fewer than SD 2.x's {PENULTIMATE_LAYER}")
    return num_hidden_layers - PENULTIMATE_LAYER


def check_components(variant: Variant, unet, clip_image, clip_text, prompt_encoder) -> None:
    """Refuses modules whose configs do not fit the variant (read from each module's `.config`, which
    diffusers / transformers modules and the twins carry)."""
    D = variant.embedding_dim
    facts = {
        "image tower projection_dim": (clip_image.config.projection_dim, D),
        "text tower projection_dim": (clip_text.config.projection_dim, D),
        "UNet projection_class_embeddings_input_dim": (unet.config.projection_class_embeddings_input_dim, 2 * D),
        "UNet cross_attention_dim": (unet.config.cross_attention_dim, prompt_encoder.config.hidden_size),
    }
    wrong = [f"{name} is {actual}, expected {expected}" for name, (actual, expected) in facts.items() if actual != expected]
    if wrong:
        raise ValueError(f"{variant.checkpoint} does not look like {variant.name}: " + "; ".join(wrong))


def load_sources(variant: Variant, revision: Optional[str] = None, clip_text_revision: Optional[str] = None, log=print) -> Sources:
    diffusers, transformers, huggingface_hub = import_libraries()
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer

    patterns = ["model_index.json"] + [f"{sub}/*.{ext}" for sub in UNCLIP_SUBFOLDERS for ext in ("json", "txt", "safetensors")]
    log(f"fetching {variant.checkpoint} (revision {revision or 'main'})")
    root = _snapshot(huggingface_hub, variant.checkpoint, revision, patterns)
    _with_weights(huggingface_hub, variant.checkpoint, revision, root, WEIGHT_SUBFOLDERS)
    text_patterns = ["config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "model.safetensors"]
    log(f"fetching {variant.clip_text_source} (revision {clip_text_revision or 'main'})")
    text_root = _snapshot(huggingface_hub, variant.clip_text_source, clip_text_revision, text_patterns)
    _with_weights(huggingface_hub, variant.clip_text_source, clip_text_revision, text_root, [""] if not (text_root / "model.safetensors").exists() else [])

    unet = diffusers.UNet2DConditionModel.from_pretrained(root, subfolder="unet", torch_dtype=torch.float32)
    vae = diffusers.AutoencoderKL.from_pretrained(root, subfolder="vae", torch_dtype=torch.float32)
    prompt_encoder = transformers.CLIPTextModel.from_pretrained(root, subfolder="text_encoder", torch_dtype=torch.float32)
    clip_image = transformers.CLIPVisionModelWithProjection.from_pretrained(root, subfolder="image_encoder", torch_dtype=torch.float32)
    text_config = transformers.CLIPTextConfig.from_dict(clip_text_config(json.loads((text_root / "config.json").read_text()), variant))
    clip_text = transformers.CLIPTextModelWithProjection.from_pretrained(text_root, config=text_config, torch_dtype=torch.float32)
    normalizer = StableUnCLIPImageNormalizer.from_pretrained(root, subfolder="image_normalizer", torch_dtype=torch.float32)
    prompt_tokenizer = transformers.CLIPTokenizer.from_pretrained(root, subfolder="tokenizer")
    clip_tokenizer = transformers.CLIPTokenizer.from_pretrained(text_root)
    scheduler_config = json.loads((root / "scheduler" / "scheduler_config.json").read_text())
    noising_config = json.loads((root / "image_noising_scheduler" / "scheduler_config.json").read_text())
    preprocess = json.loads((root / "feature_extractor" / "preprocessor_config.json").read_text())

    check_components(variant, unet, clip_image, clip_text, prompt_encoder)
    clip_size = _side(preprocess.get("crop_size", preprocess.get("size")), "height", "shortest_edge")
    if _side(preprocess.get("size"), "shortest_edge", "height") != clip_size or preprocess.get("resample", BICUBIC) != BICUBIC:
        raise ValueError(f"feature_extractor {preprocess} is not a bicubic shortest-side resize to the crop size, which is all the engine implements")
    layers_to_skip = prompt_layers_to_skip(prompt_encoder.config.num_hidden_layers)

    text_projection = _visual_projection(text_root)
    same_space = None if text_projection is None else bool(torch.allclose(text_projection.float(), clip_image.visual_projection.weight.float(), atol=1e-3))
    if same_space is False:
        log(f"WARNING: {variant.clip_text_source}'s visual projection differs from {variant.checkpoint}/image_encoder's: caption embeddings may not live in the decoder's space")

    downsample = 2 ** (len(vae.config.block_out_channels) - 1)
    revision_used, text_revision_used = _revision_of(root, variant.checkpoint), _revision_of(text_root, variant.clip_text_source)
    return Sources(
        unet=unet, vae=vae, clip_text=clip_text, clip_image=clip_image, prompt_encoder=prompt_encoder, prompt_layers_to_skip=layers_to_skip,
        clip_tokenizer=_tokenizer_files(clip_tokenizer, text_root), prompt_tokenizer=_tokenizer_files(prompt_tokenizer, root / "tokenizer"),
        scheduler_config=scheduler_config, noising_scheduler_config=noising_config,
        normalizer_mean=normalizer.mean.detach(), normalizer_std=normalizer.std.detach(),
        clip_image_size=clip_size, clip_image_mean=tuple(preprocess["image_mean"]), clip_image_std=tuple(preprocess["image_std"]),
        image_size=int(unet.config.sample_size) * downsample, latent_channels=int(unet.config.in_channels), latent_downsample=downsample,
        vae_scaling_factor=float(vae.config.scaling_factor), prompt_hidden_size=int(prompt_encoder.config.hidden_size),
        provenance={
            "unclip": {"id": variant.checkpoint, "revision": revision_used},
            "clipText": {"id": variant.clip_text_source, "revision": text_revision_used},
            "clipImage": {"id": variant.checkpoint, "subfolder": "image_encoder", "revision": revision_used},
            "promptEncoder": {"id": variant.checkpoint, "subfolder": "text_encoder", "revision": revision_used, "layers": prompt_encoder.config.num_hidden_layers},
            "clipTextSharesImageProjection": same_space,
            "libraries": {"diffusers": diffusers.__version__, "transformers": transformers.__version__, "torch": torch.__version__},
        },
    )
