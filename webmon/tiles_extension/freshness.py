"""Which sources the shipped bundle was built from, so a stale bundle can be caught.

The build writes ``dist/webmon.sources.json`` beside the bundle: a digest of every input of
``bokeh build`` (the TypeScript sources and the npm/TypeScript configuration) and a digest of
the bundle itself.  A test recomputes both; if someone edits a ``.ts`` file and forgets to
rebuild, or edits the bundle by hand, they no longer match.

The build also stamps the bundle's digest into ``package.json``'s ``version``
(``0.1.0+3f2a...``): Bokeh serves the bundle at
``/static/extensions/webmon/webmon.js?v=<sha256 of that version>``, so the address changes
whenever the bundle does and a browser never runs a cached old one.  ``bokeh build`` does not
put the version into the bundle, so the stamp is left out of the sources' digest.
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
PACKAGE = "package.json"
#: Characters of the bundle's SHA-256 in package.json's version.
STAMP_LENGTH = 16
#: The BokehJS minors the one shipped bundle is tested with: CI runs every browser test with
#: Bokeh 3.9 and with 3.10 (docs/tiles.md, "Bokeh versions").
TESTED_BOKEH_MINORS = ("3.9", "3.10")


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


def _without_stamp(data: bytes) -> bytes:
    """package.json without its version, which the build stamps after building."""
    package = json.loads(data)
    package.pop("version", None)
    return json.dumps(package, indent=2, sort_keys=True).encode()


def sources_digest(root: Path = EXTENSION_ROOT) -> str:
    """SHA-256 over the names and contents of :func:`source_files`."""
    digest = hashlib.sha256()
    for name in source_files(root):
        data = (root / name).read_bytes()
        if name == PACKAGE:
            data = _without_stamp(data)
        digest.update(name.encode() + b"\0")
        digest.update(_text_digest(data) + b"\0")
    return digest.hexdigest()


def package_version(root: Path = EXTENSION_ROOT) -> str:
    return str(json.loads((root / PACKAGE).read_text())["version"])


def stamped_version(root: Path = EXTENSION_ROOT) -> str:
    """``package.json``'s version for the bundle now in ``dist/``: its release part, then
    ``+`` and the start of the bundle's digest."""
    release = package_version(root).split("+")[0]
    return f"{release}+{bundle_digest(root)[:STAMP_LENGTH]}"


def stamp_version(root: Path = EXTENSION_ROOT) -> str:
    """Write :func:`stamped_version` into ``package.json`` (keeping its layout)."""
    path = root / PACKAGE
    text = path.read_text()
    old, new = package_version(root), stamped_version(root)
    stamped = text.replace(f'"version": {json.dumps(old)}', f'"version": {json.dumps(new)}', 1)
    if json.loads(stamped).get("version") != new:
        raise ValueError(f"could not find the version {old!r} in {path} to stamp")
    path.write_text(stamped)
    return new


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
    elif package_version(root) != stamped_version(root):
        reasons.append(f"{PACKAGE}'s version {package_version(root)!r} does not name the "
                       f"bundle ({stamped_version(root)!r}): browsers would keep a cached "
                       "bundle under the old address")
    return reasons
