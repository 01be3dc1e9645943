"""The platform graph and the decisions made on it: stale reports, unused models, centrality."""
