"""Benchmarks: ``make bench`` (``python -m bench``) runs every module's ``main()``."""

import os

# The benchmarks dial kubesim and scripted clusters on loopback, which the cluster address policy refuses
# by default; like the tests and the demo they allow it explicitly (subprocess servers inherit it).
os.environ.setdefault("SHOAL_CLUSTER_ADDRESS_POLICY", "allow=loopback")
