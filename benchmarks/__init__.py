"""Benchmarks: each measures a speed target and its baseline in the same run and prints both."""
