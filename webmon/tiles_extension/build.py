"""Rebuild the tile viewer's bundle: ``python -m webmon.tiles_extension.build``.

Needs Node.js and npm, and the Bokeh that ``package.json`` names for ``@bokeh/bokehjs``
(its compiler makes the bundle).  Runs ``npm ci`` in ``webmon/`` (node_modules stays there,
git-ignored and left out of the wheel), then ``bokeh build``, minifies its bundle with terser
(keeping class names, which BokehJS 3.10 needs) into ``dist/webmon.js`` (the name Bokeh
serves), records the digests of the sources and of the
bundle in ``dist/webmon.sources.json`` and stamps the bundle's digest into ``package.json``'s
version (so the bundle's URL changes with it).  Commit ``webmon/dist/`` and ``package.json``
afterwards.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import bokeh
from bokeh.ext import build as bokeh_build

from .freshness import BUNDLE, EXTENSION_ROOT, PACKAGE, stamp_version, write_record

#: ``bokeh build``'s own minified bundle, not shipped: it renames classes, and BokehJS 3.10
#: names a model after its class (``webmon.tiles_extension.tile_viewer.p`` would not
#: resolve), where 3.9 used ``__name__``.
MINIFIED = "dist/webmon.min.js"
#: terser (a devDependency in package.json) minifies the readable bundle instead, keeping
#: class names; the result replaces ``dist/webmon.js``, the name Bokeh serves (with a
#: package.json, whatever its ``minified`` setting).
TERSER = "node_modules/terser/bin/terser"
#: Outputs of ``bokeh build`` that Bokeh does not serve: compiled modules, source maps, the
#: readable bundle and the artifact map.  Removing them keeps the wheel small and the build
#: from reusing them.
_UNSHIPPED = ("dist/lib", "dist/webmon.js.map", "dist/webmon.min.js.map", MINIFIED,
              "dist/webmon.json", ".bokeh")


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


def minify(root: Path, node: str) -> None:
    """Minify ``dist/webmon.js`` in place with terser, keeping class names and license
    comments, without a source map (none is shipped)."""
    bundle = root / BUNDLE
    output = bundle.with_suffix(".terser.js")
    _run([node, str(root / TERSER), str(bundle), "--compress", "--mangle", "--keep-classnames",
          "--ecma", "2020", "--comments", r"/^!|copyright|license|\(c\)/i",
          "--output", str(output)], root)
    output.replace(bundle)


def check_bokeh(root: Path) -> None:
    """The bundle is made by the installed Bokeh's compiler, against the BokehJS package.json
    names: they must be the same release."""
    wanted = json.loads((root / PACKAGE).read_text())["dependencies"]["@bokeh/bokehjs"]
    if bokeh.__version__ != wanted:
        raise BuildError(f"build the bundle with bokeh=={wanted} (package.json's "
                         f"@bokeh/bokehjs), not {bokeh.__version__}")


def build(root: Path = EXTENSION_ROOT, *, install: bool = True) -> dict[str, object]:
    """Build ``root/dist/webmon.js`` from the TypeScript sources; returns the build record."""
    check_bokeh(root)
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
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
        if not (root / BUNDLE).is_file():
            raise BuildError(f"bokeh build wrote no {BUNDLE}")
        minify(root, node)
    finally:
        prune(root)
    record = write_record(root, bokeh_version=bokeh.__version__)
    stamp_version(root)
    return record


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
