import os

# Keep the smoke tests from fighting over 2 cores (see models/training/build_shapes.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def pytest_configure(config):
    # torch.onnx's tracer warns about every traced Python branch in nn.MultiheadAttention; the export
    # is checked by the contract and parity tests instead.
    config.addinivalue_line("filterwarnings", "ignore::torch.jit.TracerWarning")
    config.addinivalue_line("filterwarnings", "ignore:The shape inference of prim:UserWarning")
