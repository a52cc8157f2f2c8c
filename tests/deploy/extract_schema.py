"""Take the Compose Specification schema out of a Docker Compose v2 binary (see README.md).

Docker Compose embeds compose-go's ``schema/compose-spec.json`` verbatim; this finds it, checks
that it is one well-formed JSON document with the schema's ``$id``, and writes it unchanged.

    python tests/deploy/extract_schema.py BINARY OUT
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

MARKER = b'"$id": "compose_spec.json"'
START = b'{\n  "$schema"'


def extract(binary: bytes) -> bytes:
    """The embedded schema file, including its final newline."""
    if binary.count(MARKER) != 1:
        raise SystemExit(f"expected one embedded compose schema, found {binary.count(MARKER)}")
    start = binary.rfind(START, 0, binary.index(MARKER))
    if start < 0:
        raise SystemExit("found the schema's $id but not the start of its document")
    text = binary[start:].decode("utf-8", errors="replace")
    _, end = json.JSONDecoder().raw_decode(text)
    document = text[:end].encode("utf-8")
    if binary[start + len(document) : start + len(document) + 1] == b"\n":
        document += b"\n"
    schema = json.loads(document)
    if schema.get("$id") != "compose_spec.json" or "services" not in schema.get("properties", {}):
        raise SystemExit("the embedded document is not the Compose Specification schema")
    return document


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit("usage: extract_schema.py DOCKER_COMPOSE_BINARY OUT")
    document = extract(Path(sys.argv[1]).read_bytes())
    Path(sys.argv[2]).write_bytes(document)
    sys.stdout.write(f"{hashlib.sha256(document).hexdigest()}  {sys.argv[2]}\n")


if __name__ == "__main__":
    main()
