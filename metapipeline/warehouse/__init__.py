"""Warehouse access history as evidence: who read which relation, how often, and when last."""
