"""Helpers of the Tollgate side-by-side benchmark (see scripts/bench/README.md)."""
