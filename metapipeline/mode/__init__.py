"""Mode: the HTTP client, typed models and the workspace snapshot."""
