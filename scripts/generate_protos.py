"""Regenerates the committed Python stubs in cxflow/v1/ from protos/; --check fails on drift."""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE_DIR = Path("cxflow") / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(out_root: Path) -> list[Path]:
    """Runs protoc over every .proto under protos/ and returns the generated files."""
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    well_known = Path(protoc.__file__).parent / "_proto"
    status = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_ROOT}",
            f"-I{well_known}",
            f"--python_out={out_root}",
            f"--pyi_out={out_root}",
            f"--grpc_python_out={out_root}",
            *protos,
        ]
    )
    if status != 0:
        raise SystemExit(f"protoc failed with status {status}")
    return sorted(p for p in (out_root / PACKAGE_DIR).iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the committed stubs differ from protos/")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        committed_dir = ROOT / PACKAGE_DIR
        committed = {p.name for p in committed_dir.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}
        if args.check:
            drifted = sorted(
                {p.name for p in fresh if p.name not in committed or not filecmp.cmp(p, committed_dir / p.name, shallow=False)}
                | (committed - {p.name for p in fresh})
            )
            if drifted:
                print("generated protobuf code drifted from protos/: " + ", ".join(drifted), file=sys.stderr)
                print("run: python scripts/generate_protos.py", file=sys.stderr)
                return 1
            print(f"protobuf stubs up to date ({len(fresh)} files)")
            return 0
        for stale in committed - {p.name for p in fresh}:
            (committed_dir / stale).unlink()
        for p in fresh:
            shutil.copyfile(p, committed_dir / p.name)
        print(f"wrote {len(fresh)} files to {PACKAGE_DIR}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
