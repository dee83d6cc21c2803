"""Check that the shipped tile viewer bundle is what its sources build to.

    python tools/check_tiles_bundle.py [--reuse-node-modules]

1. Recomputes the digests recorded in ``webmon/dist/webmon.sources.json``: fails when a
   TypeScript source or package file changed after the last build, or the bundle was edited.
2. Copies the sources into a temporary directory, runs ``npm ci`` and ``bokeh build`` there
   (the same steps as ``python -m webmon.tiles_extension.build``) and compares the result with
   the shipped ``webmon/dist/webmon.js`` byte for byte.

Needs Node.js and npm, and the npm registry for ``npm ci`` unless ``--reuse-node-modules``
links the checkout's ``webmon/node_modules`` instead.  Exit code 0 when the bundle is fresh.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from webmon.tiles_extension import freshness  # noqa: E402
from webmon.tiles_extension.build import BuildError, build  # noqa: E402


def first_difference(shipped: bytes, rebuilt: bytes) -> str:
    old = shipped.decode(errors="replace").splitlines()
    new = rebuilt.decode(errors="replace").splitlines()
    diff = difflib.unified_diff(old, new, "shipped webmon.js", "rebuilt webmon.js", n=1,
                                lineterm="")
    return "\n".join(list(diff)[:30])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reuse-node-modules", action="store_true",
                        help="link webmon/node_modules instead of running npm ci")
    args = parser.parse_args()
    root = freshness.EXTENSION_ROOT

    reasons = freshness.stale_reasons(root)
    if reasons:
        for reason in reasons:
            print(f"stale: {reason}", file=sys.stderr)
        print("Rebuild with `python -m webmon.tiles_extension.build` and commit webmon/dist/.",
              file=sys.stderr)
        return 1
    print("recorded digests match the sources and the bundle")

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "webmon"
        for name in freshness.source_files(root):
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, copy / name)
        if args.reuse_node_modules:
            modules = root / "node_modules"
            if not modules.is_dir():
                print("no webmon/node_modules to reuse: run npm ci in webmon/ first",
                      file=sys.stderr)
                return 1
            (copy / "node_modules").symlink_to(modules, target_is_directory=True)
        try:
            build(copy, install=not args.reuse_node_modules)
        except BuildError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        shipped = (root / freshness.BUNDLE).read_bytes()
        rebuilt = (copy / freshness.BUNDLE).read_bytes()

    if shipped != rebuilt:
        print("the shipped bundle differs from a fresh build of its sources:", file=sys.stderr)
        print(first_difference(shipped, rebuilt), file=sys.stderr)
        return 1
    print(f"a fresh build reproduces {freshness.BUNDLE} byte for byte ({len(shipped)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
