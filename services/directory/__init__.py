"""The directory service: organizations, API tokens, directories (pools), deduplicated contacts and mailing lists."""
