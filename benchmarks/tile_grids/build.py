"""The tile viewer's benchmark build: the shipped extension plus the grids it is measured
against (``bench_grids.ts`` beside this file), which the shipped bundle leaves out.

    python benchmarks/tile_grids/build.py OUT.js

Copies the extension's sources into a temporary directory, adds ``bench_grids.ts`` and an
import of it to ``index.ts``, and builds that with webmon's own build
(``webmon.tiles_extension.build``), reusing ``webmon/node_modules`` (``npm ci`` in
``webmon/`` first).  ``bench_tiles_render.py`` calls :func:`bench_bundle` itself.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from webmon.tiles_extension import freshness  # noqa: E402
from webmon.tiles_extension.build import BuildError, build  # noqa: E402

GRIDS = HERE / "bench_grids.ts"


def bench_bundle() -> str:
    """The JavaScript of the benchmark build (the same model, more grids)."""
    root = freshness.EXTENSION_ROOT
    modules = root / "node_modules"
    if not modules.is_dir():
        raise BuildError("no webmon/node_modules: run `npm ci` in webmon/ first")
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "webmon"
        for name in freshness.source_files(root):
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, copy / name)
        shutil.copy2(GRIDS, copy / "tiles_extension" / GRIDS.name)
        index = copy / "index.ts"
        index.write_text(index.read_text() + f'import "./tiles_extension/{GRIDS.stem}"\n')
        (copy / "node_modules").symlink_to(modules, target_is_directory=True)
        build(copy, install=False)
        return (copy / freshness.BUNDLE).read_text("utf-8")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        text = bench_bundle()
    except BuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    Path(sys.argv[1]).write_text(text, "utf-8")
    print(f"wrote {sys.argv[1]} ({len(text):,} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
