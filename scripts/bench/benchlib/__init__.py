"""Helpers of the Tollgate side-by-side benchmark (see bench/README.md)."""
