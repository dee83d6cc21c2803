"""Rebuild the tile viewer's bundle: ``python -m webmon.tiles_extension.build``.

Needs Node.js and npm.  Runs ``npm ci`` in ``webmon/`` (node_modules stays there, git-ignored
and left out of the wheel), then ``bokeh build``, keeps only ``dist/webmon.js`` (what Bokeh
serves) and records the digests of the sources and of the bundle in
``dist/webmon.sources.json``.  Commit ``webmon/dist/`` afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import bokeh
from bokeh.ext import build as bokeh_build

from .freshness import BUNDLE, EXTENSION_ROOT, write_record

#: Outputs of ``bokeh build`` that Bokeh does not serve: compiled modules, source maps, the
#: minified copy (Bokeh serves ``dist/webmon.js`` when package.json exists) and the
#: artifact map.  Removing them keeps the wheel small and the build from reusing them.
_UNSHIPPED = ("dist/lib", "dist/webmon.js.map", "dist/webmon.min.js", "dist/webmon.json", ".bokeh")


class BuildError(RuntimeError):
    """The bundle could not be built."""


def _run(command: list[str], cwd: Path) -> None:
    print("+", " ".join(command), flush=True)
    result = subprocess.run(command, cwd=cwd, check=False)
    if result.returncode != 0:
        raise BuildError(f"{' '.join(command)} failed with exit code {result.returncode}")


def prune(root: Path) -> None:
    for name in _UNSHIPPED:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def build(root: Path = EXTENSION_ROOT, *, install: bool = True) -> dict[str, object]:
    """Build ``root/dist/webmon.js`` from the TypeScript sources; returns the build record."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise BuildError("rebuilding the tile viewer needs Node.js and npm on PATH")
    if install:
        _run([npm, "ci", "--no-audit", "--no-fund"], root)
    prune(root)
    print(f"+ bokeh build {root} --rebuild", flush=True)
    try:
        # bokeh build still writes a bundle when TypeScript reports errors; its exit code
        # tells, and the record below is then left as it was, so the freshness test fails.
        if not bokeh_build(root, rebuild=True):
            raise BuildError("bokeh build failed (see the compiler's messages above)")
    finally:
        prune(root)
    if not (root / BUNDLE).is_file():
        raise BuildError(f"bokeh build wrote no {BUNDLE}")
    return write_record(root, bokeh_version=bokeh.__version__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webmon.tiles_extension.build",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=EXTENSION_ROOT,
                        help="directory holding bokeh.ext.json (default: the installed webmon)")
    parser.add_argument("--no-install", action="store_true",
                        help="use the node_modules already there instead of running npm ci")
    args = parser.parse_args(argv)
    try:
        record = build(args.root, install=not args.no_install)
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.root / BUNDLE} (sources {record['sources_sha256'][:12]}, "
          f"bundle {record['bundle_sha256'][:12]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
