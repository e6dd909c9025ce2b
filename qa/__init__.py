"""qa: answers questions about news articles, citing the exact passage behind every sentence."""

import os

# PyTorch and FAISS each keep OpenMP worker threads that spin while waiting for work; on a busy
# 2-core machine they starve each other (measured: /v1/search p50 61.7 -> 24.3 ms, one query
# encode 493 -> 12 ms with passive waiting). Must be set before either library is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
