"""The exporter's outputs stay out of a user's checkout: what docs/real-presets.md tells them to create is ignored."""
import subprocess

import pytest

from models.export.tests.toy_models import REPO

IGNORED = [".venv-export/bin/python", "models/unclip-l/unet.onnx.data", "models/unclip-h-fp16/preset.json", "models/twin-unclip-l/unet.onnx"]
TRACKED = ["models/shapes/preset.json", "models/export/load.py"]


def ignored(path: str) -> bool:
    done = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=REPO)
    if done.returncode not in (0, 1):
        pytest.skip("not a git checkout")
    return done.returncode == 0


@pytest.mark.parametrize("path", IGNORED)
def test_exports_and_the_export_environment_are_ignored(path):
    assert ignored(path)


@pytest.mark.parametrize("path", TRACKED)
def test_the_bundled_preset_and_the_exporter_are_not(path):
    assert not ignored(path)
