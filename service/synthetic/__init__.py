"""Synthetic data sets for benchmarks and scale tests (invented, not demo data)."""
