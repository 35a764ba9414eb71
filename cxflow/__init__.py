"""cxflow: the shared Python package holding the generated gRPC stubs, the CLI and the local stack launcher."""
