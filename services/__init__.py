"""cxflow services: ingestion, directory and notification, plus what they share in services.common."""
