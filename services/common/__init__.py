"""What every cxflow service shares: settings, logging, database, auth and the gRPC server bootstrap."""
