"""docs/grpc-api.md is what scripts/generate_api_docs.py makes of protos/ now, and names every RPC with its comment."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("generate_api_docs", ROOT / "scripts" / "generate_api_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_matches_the_protos() -> None:
    generator = load_generator()
    files = generator.read_descriptors()
    text = generator.render(files)
    assert (ROOT / "docs" / "grpc-api.md").read_text() == text, "run: make docs"
    for file in files:
        for service in file.service:
            assert f"### service {service.name}" in text
            for method in service.method:
                assert f"`{file.package}.{service.name}/{method.name}`" in text
    # Comments come through: the one above RevokeApiToken in directory.proto.
    assert "Deletes an API token's hash, so the token stops authenticating" in text
