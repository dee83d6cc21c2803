"""Which sources the shipped bundle was built from, so a stale bundle can be caught.

The build writes ``dist/webmon.sources.json`` beside the bundle: a digest of every input of
``bokeh build`` (the TypeScript sources and the npm/TypeScript configuration) and a digest of
the bundle itself.  A test recomputes both; if someone edits a ``.ts`` file and forgets to
rebuild, or edits the bundle by hand, they no longer match.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

#: ``webmon/``: the extension's root, where bokeh.ext.json and package.json live.
EXTENSION_ROOT = Path(__file__).resolve().parent.parent
#: Inputs of the build, relative to the extension root.
SOURCE_PATTERNS = (
    "index.ts",
    "tiles_extension/*.ts",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "bokeh.ext.json",
)
BUNDLE = "dist/webmon.js"
RECORD = "dist/webmon.sources.json"


def source_files(root: Path = EXTENSION_ROOT) -> list[str]:
    """The build's input files, as sorted POSIX paths relative to ``root``."""
    found = {
        path.relative_to(root).as_posix()
        for pattern in SOURCE_PATTERNS
        for path in root.glob(pattern)
        if path.is_file()
    }
    return sorted(found)


def _text_digest(data: bytes) -> bytes:
    # Line endings are normalised so a checkout with CRLF endings hashes the same.
    return data.replace(b"\r\n", b"\n")


def sources_digest(root: Path = EXTENSION_ROOT) -> str:
    """SHA-256 over the names and contents of :func:`source_files`."""
    digest = hashlib.sha256()
    for name in source_files(root):
        digest.update(name.encode() + b"\0")
        digest.update(_text_digest((root / name).read_bytes()) + b"\0")
    return digest.hexdigest()


def bundle_digest(root: Path = EXTENSION_ROOT) -> str:
    """SHA-256 of the built bundle."""
    return hashlib.sha256(_text_digest((root / BUNDLE).read_bytes())).hexdigest()


def write_record(root: Path = EXTENSION_ROOT, bokeh_version: str = "") -> dict[str, Any]:
    """Record the digests of the sources and of the bundle just built from them."""
    record = {
        "bokeh_version": bokeh_version,
        "sources": source_files(root),
        "sources_sha256": sources_digest(root),
        "bundle_sha256": bundle_digest(root),
    }
    (root / RECORD).write_text(json.dumps(record, indent=2) + "\n")
    return record


def read_record(root: Path = EXTENSION_ROOT) -> dict[str, Any]:
    return json.loads((root / RECORD).read_text())


def stale_reasons(root: Path = EXTENSION_ROOT) -> list[str]:
    """Why the shipped bundle does not match its sources; empty when it does."""
    if not (root / BUNDLE).is_file():
        return [f"{BUNDLE} is missing"]
    if not (root / RECORD).is_file():
        return [f"{RECORD} is missing"]
    record = read_record(root)
    reasons = []
    if record.get("sources") != source_files(root):
        reasons.append(f"the source files changed: recorded {record.get('sources')}, "
                       f"found {source_files(root)}")
    elif record.get("sources_sha256") != sources_digest(root):
        reasons.append("a TypeScript source or package file changed since the bundle was built")
    if record.get("bundle_sha256") != bundle_digest(root):
        reasons.append(f"{BUNDLE} is not the bundle the build recorded")
    return reasons
