"""Generated protobuf and gRPC stubs for cxflow.v1 (scripts/generate_protos.py writes them; do not edit)."""
