"""Dagster ops, graphs, jobs and resources: the only package that imports dagster."""
