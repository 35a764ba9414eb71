"""The notification service: outbound channels (email first), each send idempotent by key."""
