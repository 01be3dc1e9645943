"""Lineage of Mode SQL: Liquid and definitions rendered, sqlglot references, resolution to dbt nodes.

Entry points live in `metapipeline.lineage.resolve` (`resolve_query`, `resolve_many`). This package
imports no Dagster.
"""
