import models.training  # noqa: F401  (fixes the CPU thread pools before any test loads torch)


def pytest_configure(config):
    # torch.onnx's tracer warns about every traced Python branch in nn.MultiheadAttention; the export
    # is checked by the contract and parity tests instead.
    config.addinivalue_line("filterwarnings", "ignore::torch.jit.TracerWarning")
    config.addinivalue_line("filterwarnings", "ignore:The shape inference of prim:UserWarning")
