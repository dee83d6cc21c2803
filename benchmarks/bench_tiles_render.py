"""Tile viewer: time to apply a tile-state update and render a frame, in Chromium.

    python benchmarks/bench_tiles_render.py [--samples 30] [--sizes 1024,16384,65536]

For each grid size a standalone Bokeh page holding one TileViewer (the default 600 x 600)
replaces its data source with a new state in which 5% of the tiles changed and draws at once;
the page reports ``performance.now()`` around that ("main thread": what blocks the page), and
around that plus a one-pixel ``readPixels``, which waits until WebGL has finished the frame
("update + frame").  "redraw" is a frame with nothing changed: what a pan or zoom costs.
"level change" switches to a grid of half the rows and columns and back, each with its states,
and draws.

Then, in the same run and for the default renderer only, what the picture and the heat map
add: a "thumbnail update" replaces the 512 x 512 RGB picture under the tiles and draws; a
"heat-map update" replaces the load figures of every tile of the grid (the viewer colouring
tiles by mean load time) and draws; "redraw over picture" is a frame with nothing changed,
the picture under translucent tiles.  Each is set beside the state update of today's viewer
(no picture, tiles by state) measured in the same page.

Each is measured, in the same run, for the three ``grid_renderer`` values: "shader" (the
default, and the only grid the shipped bundle has: one quad, states in a texture),
"instanced" (one InstancedMesh) and "mesh_per_tile" (the 2020 page's design, the baseline).
The last two exist only in the benchmark's own build of the tile viewer
(``benchmarks/tile_grids/``), made at the start (Node.js, and ``npm ci`` in ``webmon/``, are
needed); every page uses that build.  Medians; nothing is asserted.

Headless Chromium here renders WebGL with SwiftShader, on the CPU: absolute times are those of
a software rasteriser sharing the machine's cores; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bokeh.embed import file_html  # noqa: E402
from bokeh.embed.bundle import bundle_for_objs_and_resources  # noqa: E402
from bokeh.resources import INLINE  # noqa: E402
from browser_util import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tile_grids.build import bench_bundle  # noqa: E402

from webmon.tiles_extension import TileViewer  # noqa: E402

CHANGED_FRACTION = 0.05
#: Stop sampling a configuration after this long: one mesh per tile can take seconds a frame.
BUDGET_S = 60.0

# Runs in the page: builds the updates first (untimed), then times apply + draw + finish.
MEASURE_JS = """
async ([rows, cols, samples, fraction, budget_ms]) => {
  const model = Bokeh.documents[0].get_model_by_name("tiles")
  const view = Bokeh.index.find_one(model)
  const canvas = view.shadow_el.querySelector("canvas")
  const gl = canvas.getContext("webgl2") ?? canvas.getContext("webgl")
  const pixel = new Uint8Array(4)
  const finish = () => gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel)

  let seed = 12345
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
  const n = rows * cols
  // Steady-state mix: most tiles idle, a third loaded, a few loading or in view.
  const pick_state = () => {
    const u = random()
    return u < 0.6 ? 0 : u < 0.9 ? 1 : u < 0.95 ? 2 : 3
  }
  const states = new Uint8Array(n).map(pick_state)
  const columns = () => {
    let k = 0
    for (let i = 0; i < n; i++) if (states[i] != 0) k++
    const row = new Int32Array(k), col = new Int32Array(k), state = new Uint8Array(k)
    for (let i = 0, j = 0; i < n; i++) {
      if (states[i] != 0) {
        row[j] = Math.floor(i / cols); col[j] = i % cols; state[j++] = states[i]
      }
    }
    return {row, col, state}
  }
  const warmup = 3
  const updates = []
  for (let s = 0; s < samples + warmup; s++) {
    const changes = Math.round(n * fraction)
    for (let c = 0; c < changes; c++) {
      const i = Math.floor(random() * n)
      states[i] = (states[i] + 1 + Math.floor(random() * 3)) % 4   // always a different state
    }
    updates.push(columns())
  }

  model.source.data = updates[0]
  view.render_now()
  finish()
  const main_ms = [], update_ms = [], redraw_ms = []
  const start = performance.now()
  for (let s = 1; s < updates.length; s++) {
    const t0 = performance.now()
    model.source.data = updates[s]
    view.render_now()
    const t1 = performance.now()
    finish()
    const t2 = performance.now()
    view.render_now()
    finish()
    const t3 = performance.now()
    if (s >= warmup) { main_ms.push(t1 - t0); update_ms.push(t2 - t0); redraw_ms.push(t3 - t2) }
    if (performance.now() - start > budget_ms && update_ms.length >= 3) break
    await new Promise((resolve) => setTimeout(resolve, 0))   // let the page breathe
  }
  // Level changes: the grid halves (or doubles) its rows and columns, with new states.
  const level_ms = []
  const coarse = {row: new Int32Array(0), col: new Int32Array(0), state: new Uint8Array(0)}
  for (let k = 0; k < 6; k++) {
    const down = k % 2 == 0
    const [r, c] = down ? [rows >> 1, cols >> 1] : [rows, cols]
    const t0 = performance.now()
    model.setv({level: down ? 1 : 0, shape_in_tiles: [r, c], image_shape: [r * 256, c * 256]})
    model.source.data = down ? coarse : updates[updates.length - 1]
    view.render_now()
    finish()
    level_ms.push(performance.now() - t0)
    await new Promise((resolve) => setTimeout(resolve, 0))
  }
  return {main_ms, update_ms, redraw_ms, level_ms}
}
"""


# Runs in the page: the picture and the heat map, beside a state update, each applied and
# drawn (main thread), then finished (a one-pixel readPixels).
MEASURE_IMAGE_JS = """
async ([rows, cols, samples, fraction]) => {
  const model = Bokeh.documents[0].get_model_by_name("tiles")
  const view = Bokeh.index.find_one(model)
  const canvas = view.shadow_el.querySelector("canvas")
  const gl = canvas.getContext("webgl2") ?? canvas.getContext("webgl")
  const pixel = new Uint8Array(4)
  const finish = () => gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, pixel)
  const breathe = () => new Promise((resolve) => setTimeout(resolve, 0))
  let seed = 54321
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648
  const n = rows * cols
  // Each sample: the update applied, drawn and finished, then at once a frame with nothing
  // changed, finished too.  Their difference is what the update adds to a frame; a frame's own
  // cost (filling the canvas in software) moves with the machine's load, and taking it from
  // the same moment leaves out most of that drift.
  const timed = async (apply) => {
    const main = [], total = [], redraw = [], own = []
    for (let s = 0; s < samples + 3; s++) {
      const t0 = performance.now()
      apply(s)
      view.render_now()
      const t1 = performance.now()
      finish()
      const t2 = performance.now()
      view.render_now()
      finish()
      const t3 = performance.now()
      if (s >= 3) {
        main.push(t1 - t0); total.push(t2 - t0); redraw.push(t3 - t2)
        own.push((t2 - t0) - (t3 - t2))
      }
      await breathe()
    }
    return {main, total, redraw, own}
  }
  // Today's viewer: tiles by state, no picture; a state update as in the first table.
  const state_updates = []
  const states = new Uint8Array(n).map(() => Math.floor(random() * 4))
  for (let s = 0; s < samples + 3; s++) {
    for (let c = 0; c < Math.round(n * fraction); c++) {
      const i = Math.floor(random() * n)
      states[i] = (states[i] + 1) % 4
    }
    const row = new Int32Array(n), col = new Int32Array(n)
    for (let i = 0; i < n; i++) { row[i] = Math.floor(i / cols); col[i] = i % cols }
    state_updates.push({row, col, state: states.slice()})
  }
  model.setv({thumbnail: null, thumbnail_shape: [0, 0], color_by: "state"})
  view.render_now(); finish()
  const state = await timed((s) => { model.source.data = state_updates[s] })
  const redraw_plain = await timed(() => {})
  // The picture: 512 x 512 RGB, a new one each time.
  const side = 512
  const pictures = []
  for (let s = 0; s < samples + 3; s++) {
    const rgb = new Uint8Array(side * side * 3)
    for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 7 + s * 31) & 255
    pictures.push(rgb.buffer)
  }
  const thumbnail = await timed((s) => {
    model.setv({thumbnail: pictures[s], thumbnail_shape: [side, side]})
  })
  const redraw_picture = await timed(() => {})
  // The heat map: every tile's load figures, new each time, coloured by mean load time.
  const row = new Int32Array(n), col = new Int32Array(n)
  for (let i = 0; i < n; i++) { row[i] = Math.floor(i / cols); col[i] = i % cols }
  const figures = []
  for (let s = 0; s < samples + 3; s++) {
    const loads = new Int32Array(n), mean_ms = new Float32Array(n), last_ms = new Float32Array(n)
    for (let i = 0; i < n; i++) {
      loads[i] = 1 + Math.floor(random() * 5)
      mean_ms[i] = 1 + random() * 200
      last_ms[i] = mean_ms[i]
    }
    figures.push({row, col, loads, mean_ms, last_ms})
  }
  model.color_by = "mean_ms"
  const heat = await timed((s) => { model.load_source.data = figures[s] })
  return {state, redraw_plain, thumbnail, redraw_picture, heat}
}
"""


def page_for(side: int, geometry: str, directory: Path, extension_js: str) -> Path:
    """A standalone page of one viewer, with ``extension_js`` (the benchmark build) in place
    of the shipped bundle Bokeh inlines."""
    viewer = TileViewer(name="tiles", grid_renderer=geometry,
                        shape_in_tiles=(side, side), image_shape=(side * 256, side * 256),
                        tile_size=256, view_rect=(side * 64, side * 64, side * 192, side * 192))
    (shipped,) = [js for js in bundle_for_objs_and_resources([viewer], INLINE).js_raw
                  if TileViewer.__module__ in js]
    html = file_html(viewer, INLINE, "tile viewer benchmark")
    if html.count(shipped) != 1:
        raise RuntimeError("the page does not inline the shipped tile viewer bundle once")
    path = directory / f"tiles-{side}-{geometry}.html"
    path.write_text(html.replace(shipped, extension_js))
    return path


def evaluate_in_page(browser, path: Path, script: str, arguments: list) -> dict:
    """Opens ``path``, waits for the viewer's first frame and returns what ``script`` returns;
    raises if the page logged an error meanwhile."""
    page = browser.new_page(viewport={"width": 640, "height": 640})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_function(
        "window.Bokeh && Bokeh.documents.length > 0 && "
        "Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name('tiles'))?.frames_drawn > 0",
        timeout=120_000,
    )
    result = page.evaluate(script, arguments)
    page.close()
    if errors:
        raise RuntimeError(f"the page failed: {errors}")
    return result


def measure(browser, path: Path, side: int, samples: int) -> dict:
    start = time.perf_counter()
    result = evaluate_in_page(browser, path, MEASURE_JS,
                              [side, side, samples, CHANGED_FRACTION, BUDGET_S * 1000])
    result["wall_s"] = time.perf_counter() - start
    return result


RENDERERS = ("shader", "instanced", "mesh_per_tile")


def measure_image(browser, path: Path, side: int, samples: int) -> dict:
    return evaluate_in_page(browser, path, MEASURE_IMAGE_JS,
                            [side, side, samples, CHANGED_FRACTION])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--sizes", default="1024,16384,65536",
                        help="tile counts, each a square number")
    parser.add_argument("--image-only", action="store_true",
                        help="only the picture and heat-map table (the default renderer)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    sides = [round(n ** 0.5) for n in sizes]
    if any(side * side != n for side, n in zip(sides, sizes, strict=True)):
        parser.error("each size must be a square number of tiles")

    from playwright.sync_api import sync_playwright

    print("building the tile viewer with the benchmark's grids...", file=sys.stderr, flush=True)
    extension_js = bench_bundle()
    results: list[tuple[int, dict[str, dict]]] = []
    image_results: list[tuple[int, dict]] = []
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for side in sides:
                timings = {}
                for renderer in RENDERERS:
                    if args.image_only and renderer != "shader":
                        continue
                    page = page_for(side, renderer, Path(tmp), extension_js)
                    if not args.image_only:
                        result = measure(browser, page, side, args.samples)
                        timings[renderer] = result
                        print(f"  {side * side:>6} tiles, {renderer:<13}: "
                              f"{len(result['update_ms'])} samples in {result['wall_s']:.1f} s",
                              file=sys.stderr, flush=True)
                    if renderer == "shader":
                        image_results.append((side * side, measure_image(
                            browser, page, side, args.samples)))
                if timings:
                    results.append((side * side, timings))
        finally:
            browser.close()

    print(f"Tile viewer, 600 x 600: apply an update ({CHANGED_FRACTION:.0%} of the tiles change "
          "state) and render a frame; headless Chromium, WebGL on SwiftShader.")
    print("Medians in ms.  vs mesh/tile = the mesh-per-tile baseline's update + frame time "
          "divided by this renderer's.\n")
    header = (f"{'tiles':>6} {'changed':>7}  {'renderer':<13} {'main thread':>11} "
              f"{'update + frame':>14} {'redraw':>9} {'level change':>12} {'vs mesh/tile':>12} "
              f"{'samples':>7}")
    print(header)
    print("-" * len(header))
    for n, timings in results:
        baseline = statistics.median(timings["mesh_per_tile"]["update_ms"])
        for renderer in RENDERERS:
            result = timings[renderer]
            main_ms = statistics.median(result["main_ms"])
            update = statistics.median(result["update_ms"])
            redraw = statistics.median(result["redraw_ms"])
            level = statistics.median(result["level_ms"])
            print(f"{n:>6} {round(n * CHANGED_FRACTION):>7}  {renderer:<13} {main_ms:>11.2f} "
                  f"{update:>14.2f} {redraw:>9.2f} {level:>12.2f} {baseline / update:>11.1f}x "
                  f"{len(result['update_ms']):>7}")
    print_image_table(image_results)
    return 0


def print_image_table(results: list[tuple[int, dict]]) -> None:
    """The picture and the heat map beside today's state update, same page, same run."""
    print("\nPicture and heat map, default renderer, 600 x 600; medians in ms, applied and drawn "
          "(main thread) / and the frame finished / a frame with nothing changed right after "
          "it / the update's own cost (update + frame minus that redraw, per sample).  "
          "'x state' = this update's finished time divided by the state update's (today's "
          "viewer: no picture, tiles by state).\n")
    header = (f"{'tiles':>6}  {'update':<30} {'main thread':>11} {'update + frame':>14} "
              f"{'redraw':>8} {'own cost':>9} {'x state':>8}")
    print(header)
    print("-" * len(header))
    rows = [("state", "state update, no picture"), ("redraw_plain", "redraw, no picture"),
            ("thumbnail", "thumbnail update (512 x 512)"), ("redraw_picture",
                                                              "redraw over picture"),
            ("heat", "heat-map update (every tile)")]
    for n, result in results:
        base = statistics.median(result["state"]["total"])
        for key, label in rows:
            main_ms = statistics.median(result[key]["main"])
            total = statistics.median(result[key]["total"])
            redraw = statistics.median(result[key]["redraw"])
            own = statistics.median(result[key]["own"])
            print(f"{n:>6}  {label:<30} {main_ms:>11.2f} {total:>14.2f} {redraw:>8.2f} "
                  f"{own:>9.2f} {total / base:>7.2f}x")


if __name__ == "__main__":
    sys.exit(main())
