"""Activities of TriggeredRun: thin gRPC clients of the directory and notification services."""
