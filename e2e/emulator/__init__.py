"""A Kubernetes API server emulator on loopback for Tollgate's cluster-less end-to-end suite.

Run it with ``python -m emulator --port 0 --kubeconfig OUT`` from ``e2e/`` (or with ``e2e/`` on
PYTHONPATH); see ``e2e/emulator/README.md``.
"""
