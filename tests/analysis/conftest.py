"""Analysis tests: BLAS on one thread (the bootstrap is many small matrix products; threads only contend)."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
