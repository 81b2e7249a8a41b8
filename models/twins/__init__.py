"""Real-architecture twins of the Stable unCLIP components, with random weights from a seed.

The real checkpoints cannot be downloaded here, and diffusers / transformers cannot be installed, so
these modules are written in this repository with the published configurations (configs.py), the
call signatures the exporter uses and the state-dict parameter names of diffusers 0.27's
`UNet2DConditionModel` / `AutoencoderKL` and transformers' CLIP towers. `twin_sources` (sources.py)
turns them into a `models.export.sources.Sources`, so the real exporter runs on them unchanged;
`python3 -m models.twins.preset` writes a complete preset from them (docs/real-presets.md).
"""
