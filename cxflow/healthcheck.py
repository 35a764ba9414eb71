"""Container health probe: `python -m cxflow.healthcheck HOST:PORT` exits 0 only when the gRPC health check says SERVING."""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def check(target: str, service: str = "", timeout: float = 3.0) -> str:
    """The name of the serving status `target` reports for `service` ("" = the whole server).

    Raises grpc.RpcError when the server cannot be reached or does not know the service.
    """
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        response = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cxflow.healthcheck",
        description="Ask a gRPC server's standard health service (grpc.health.v1) whether it is SERVING.",
    )
    parser.add_argument("target", metavar="HOST:PORT", help="address of the gRPC server")
    parser.add_argument("--service", default="", help='service name to check, e.g. cxflow.v1.DirectoryService; default: the whole server')
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for an answer (default: 3)")
    args = parser.parse_args(argv)

    try:
        status = check(args.target, args.service, args.timeout)
    except grpc.RpcError as exc:
        # Unreachable, too slow or unknown service: all mean "not healthy" to a probe.
        print(f"{args.target}: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    print(f"{args.target}: {status}")
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
