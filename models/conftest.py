import os

# Keep the smoke tests from fighting over 2 cores (see models/training/build_shapes.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
