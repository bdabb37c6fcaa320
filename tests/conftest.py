import os

# torch and Numba each run an OpenMP pool; on 2 cores spinning threads distort everything.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
