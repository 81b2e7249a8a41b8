"""Exporting public Stable unCLIP checkpoints into Penumbra presets (docs/model-contract.md).

Only `load.py` imports diffusers / transformers / huggingface_hub; every other module works on
plain torch modules with their call signatures, so the tests drive the whole exporter with tiny
stand-ins on Debian's torch. See docs/real-presets.md for the commands.
"""
