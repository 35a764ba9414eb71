"""The ingestion service: Segment intake, sources and subscriptions, workflow definitions and trigger URLs."""
