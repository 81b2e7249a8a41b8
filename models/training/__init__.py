"""The shapes world, its models and their training (`npm run train:shapes`, build_shapes.py).

Everything here trains on a few CPU cores, so the thread pools are fixed on import, before torch
loads its libraries (they read these variables then):
- idle OpenMP threads sleep instead of spinning: with anything else on 2 cores, spinning made
  training about 4x slower;
- Debian's pthreads OpenBLAS keeps no worker pool of its own: torch's threads already use every
  core, and a second pool only competes with them (the UNet stage ran about a fifth faster without it).
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
