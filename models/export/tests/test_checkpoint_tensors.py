"""Reading one tensor of a torch.save checkpoint (models/export/checkpoint_tensors.py), as load.py's
visual-projection comparison does for a text repository that ships only pytorch_model.bin."""
import collections
import pickle
import zipfile

import pytest
import torch

from models.export.checkpoint_tensors import NotATorchZip, read_tensor
from models.export.load import _visual_projection


def save_state(path, state):
    torch.save(collections.OrderedDict(state), path)
    return path


def without_entries(source, target, keep):
    """A copy of a torch.save archive holding only the pickle and the storages whose keys are in `keep`."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            is_storage = "/data/" in info.filename
            if not is_storage or info.filename.rsplit("/", 1)[1] in keep:
                dst.writestr(info, src.read(info.filename))
    return target


def storage_key_of(path, name):
    """The archive key of the storage `name` lives in (the pickle names it)."""
    with zipfile.ZipFile(path) as archive:
        pkl = next(n for n in archive.namelist() if n.endswith("/data.pkl"))

        class Keys(pickle.Unpickler):
            def persistent_load(self, pid):
                return pid[2]

            def find_class(self, module, attr):
                if attr == "_rebuild_tensor_v2":
                    return lambda storage, *rest: storage
                return super().find_class(module, attr)

        with archive.open(pkl) as f:
            return Keys(f).load()[name]


def test_reads_each_tensor_as_saved(tmp_path):
    base = torch.arange(24.0).reshape(4, 6)
    state = {"weight": torch.randn(3, 4), "strided_view": base[:, 2:5], "half": torch.randn(5).half(), "bf16": torch.randn(2, 2).bfloat16(),
             "parameter": torch.nn.Parameter(torch.ones(2)), "ids": torch.arange(3), "empty": torch.empty(0, 4)}
    path = save_state(tmp_path / "state.bin", state)
    for name, tensor in state.items():
        read = read_tensor(path, name)
        assert read.dtype == tensor.dtype and torch.equal(read, tensor.detach()), name
    assert read_tensor(path, "absent") is None


def test_the_visual_projection_is_read_without_the_rest_of_the_checkpoint(tmp_path):
    projection = torch.randn(8, 16)
    full = save_state(tmp_path / "full.bin", {"text_model.embeddings.token_embedding.weight": torch.randn(100, 16), "visual_projection.weight": projection})
    root = tmp_path / "repo"
    root.mkdir()
    # The archive keeps only the projection's bytes: loading everything, as load.py used to, cannot work.
    without_entries(full, root / "pytorch_model.bin", keep={storage_key_of(full, "visual_projection.weight")})
    with pytest.raises(RuntimeError):
        torch.load(root / "pytorch_model.bin", map_location="cpu")
    assert torch.equal(_visual_projection(root), projection)


def test_the_legacy_format_skips_the_comparison_instead_of_failing(tmp_path):
    torch.save({"visual_projection.weight": torch.ones(2, 2)}, tmp_path / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    with pytest.raises(NotATorchZip):
        read_tensor(tmp_path / "pytorch_model.bin", "visual_projection.weight")
    assert _visual_projection(tmp_path) is None


class Payload:
    def __reduce__(self):
        return (print, ("a checkpoint ran code",))


def test_a_pickle_naming_anything_but_a_state_dict_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"visual_projection.weight": Payload()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing to unpickle"):
        read_tensor(path, "visual_projection.weight")
    assert "ran code" not in capsys.readouterr().out
