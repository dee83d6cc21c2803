// TileViewer: a Bokeh model that draws the tiles of one multiscale image level with three.js.
//
// Inputs are Bokeh properties and a ColumnDataSource (columns `row`, `col`, `state`), so a
// full, streamed or patched update from Python redraws the picture.  Nothing is drawn on a
// timer: every input change or mouse move asks for one frame, and the frames asked for
// before the browser's next paint are drawn as one.
import {LayoutDOM, LayoutDOMView} from "@bokehjs/models/layouts/layout_dom"
import {ColumnDataSource} from "@bokehjs/models/sources/column_data_source"
import type {UIElement} from "@bokehjs/models/ui/ui_element"
import type * as p from "@bokehjs/core/properties"
import type {StyleSheetLike} from "@bokehjs/core/dom"
import {div, span, button, input, label} from "@bokehjs/core/dom"
import type {Color} from "@bokehjs/core/types"
import {color2rgba} from "@bokehjs/core/util/color"
import type {Arrayable} from "@bokehjs/core/types"

import type {RGB} from "./tile_scene"
import {TileScene} from "./tile_scene"
import type {TileGridKind} from "./tile_grids"
import {fill_states, IDLE, LOADED, LOADING, SEEN} from "./tile_states"
import type {StateCounts} from "./tile_states"
import type {ColorBy} from "./tile_heat"
import {COLOR_BY_LABELS, FILL_ALPHA, HeatMap, heat_css} from "./tile_heat"
import {TileHover, hover_css} from "./tile_hover"
import {rgb_image} from "./tile_thumbnail"

const viewer_css = `
:host { position: relative; }
.wm-tiles { position: absolute; inset: 0; display: flex; flex-direction: column; overflow: hidden;
  user-select: none; font: 12px/1.4 system-ui, sans-serif; }
.wm-bar { display: flex; flex-direction: column; gap: 3px; padding: 5px 8px;
  background: #f6f6f6; color: #222; border-bottom: 1px solid #ddd; }
.wm-head { display: flex; align-items: center; gap: 8px; }
.wm-title { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.wm-items { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 12px; }
.wm-item { display: inline-flex; align-items: center; gap: 5px; white-space: nowrap; }
.wm-count { color: #555; font-variant-numeric: tabular-nums; }
.wm-swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px; }
.wm-frame { display: inline-block; width: 9px; height: 9px; border: 2px solid; }
.wm-axis { display: inline-block; width: 14px; height: 0; border-top: 2px solid; }
.wm-follow { margin-left: auto; display: inline-flex; align-items: center; gap: 4px;
  white-space: nowrap; cursor: pointer; }
.wm-reset { font: inherit; cursor: pointer; padding: 2px 8px; border-radius: 4px;
  border: 1px solid #999; background: #fff; color: #222; }
.wm-stage { position: relative; flex: 1 1 auto; min-height: 0; }
.wm-stage canvas { position: absolute; inset: 0; display: block; touch-action: none; }
.wm-hint { position: absolute; bottom: 4px; left: 8px; font-size: 11px;
  color: rgba(255, 255, 255, 0.6); pointer-events: none; }
.wm-message { position: absolute; inset: 0; display: flex; align-items: center;
  justify-content: center; color: #ddd; font-size: 14px; }
`

/** Pointer travel, in CSS pixels, below which a press and release is a click, not a drag. */
const CLICK_SLOP_PX = 4
/** "Follow the view" is on by itself (follow_view null) when the producer's view covers
 * less than this fraction of the level: at finer levels it is a dot in a grey square. */
export const FOLLOW_BELOW = 0.01
/** Following frames the view with this many times its size around it. */
export const FOLLOW_CONTEXT = 3
/** A flashed tile is framed with this many times its size around it, and pulses this long. */
export const FLASH_CONTEXT = 9
export const FLASH_MS = 2400

type Dirty = {layout: boolean, states: boolean, palette: boolean, overlays: boolean,
  image: boolean, loads: boolean}

export class TileViewerView extends LayoutDOMView {
  declare model: TileViewer

  private scene: TileScene | null = null
  private root_el: HTMLElement | null = null
  private legend_title_el: HTMLElement
  private count_els: HTMLElement[] = []
  private states = new Uint8Array(0)
  private readonly heat = new HeatMap((mode) => this.model.color_by = mode)
  private hover: TileHover | null = null
  private dirty: Dirty = {layout: true, states: true, palette: true, overlays: true, image: true, loads: true}
  private frame_request = 0
  private press: {x: number, y: number} | null = null
  private source: ColumnDataSource | null = null
  private readonly on_source_change = () => this.invalidate("states")
  private follow_box: HTMLInputElement | null = null
  /** Whether the camera followed the view at the last frame. */
  private followed = false
  /** True between the controls' start and end: camera changes then are the user's. */
  private interacting = false
  /** A flash asked for (flash_count changed) and not started yet, and the running one. */
  private flash_pending = false
  private flash_until = 0
  private load_source: ColumnDataSource | null = null
  private readonly on_loads_change = () => this.invalidate("loads")

  /** Milliseconds the last frame took to build and submit to WebGL. */
  last_draw_ms = 0
  /** Frames drawn so far: with nothing changing, it must stay still (no render loop). */
  frames_drawn = 0

  get child_models(): UIElement[] {
    return []
  }

  override stylesheets(): StyleSheetLike[] {
    return [...super.stylesheets(), viewer_css, heat_css, hover_css]
  }

  override connect_signals(): void {
    super.connect_signals()
    const props = this.model.properties
    this.on_change([props.shape_in_tiles, props.image_shape, props.tile_size, props.gap],
      () => this.invalidate("layout"))
    this.on_change([props.level, props.layer_name], () => this.invalidate("overlays"))
    this.on_change([props.view_rect, props.view_color, props.view_alpha, props.clicked_tile],
      () => this.invalidate("overlays"))
    this.on_change([props.seen_color, props.loading_color, props.loaded_color, props.idle_color,
      props.background_color], () => {
      this.update_legend_swatches()
      this.invalidate("palette")
    })
    this.on_change(props.grid_renderer, () => {
      this.scene?.set_grid_kind(this.model.grid_renderer)
      this.invalidate("layout")
    })
    this.on_change(props.show_legend, () => this.update_legend_visibility())
    this.on_change(props.follow_view, () => this.invalidate("overlays"))
    this.on_change(props.flash_count, () => {
      this.flash_pending = true
      this.invalidate("overlays")
    })
    // A flash asked for before this view existed (the page's first picture came with it).
    this.flash_pending = this.model.flash_count > 0 && this.model.flash_tile != null
    this.on_change(props.source, () => {
      this.watch_source()
      this.invalidate("states")
    })
    this.watch_source()
    this.on_change([props.thumbnail, props.thumbnail_shape, props.show_image],
      () => this.invalidate("image"))
    this.on_change(props.color_by, () => {
      this.update_mode_legend()
      this.invalidate("states")
    })
    this.on_change(props.load_source, () => {
      this.watch_load_source()
      this.invalidate("loads")
    })
    this.watch_load_source()
  }

  /** Follows the data source's full replacements, streams and patches. */
  private watch_source(): void {
    this.source = this.follow(this.source, this.model.source, this.on_source_change)
  }

  private watch_load_source(): void {
    this.load_source = this.follow(this.load_source, this.model.load_source, this.on_loads_change)
  }

  private follow(old: ColumnDataSource | null, source: ColumnDataSource, handler: () => void): ColumnDataSource {
    if (old != null) {
      this.disconnect(old.change, handler)
      this.disconnect(old.streaming, handler)
      this.disconnect(old.patching, handler)
    }
    this.connect(source.change, handler)
    this.connect(source.streaming, handler)
    this.connect(source.patching, handler)
    return source
  }

  private invalidate(what: keyof Dirty): void {
    this.dirty[what] = true
    if (what == "layout") {
      // A new grid has new tile indices: states and overlays must follow it.
      this.dirty.states = true
      this.dirty.overlays = true
    }
    this.request_frame()
  }

  /** Asks for one frame before the browser's next paint; repeated asks share that frame. */
  request_frame(): void {
    if (this.frame_request == 0 && this.scene != null) {
      this.frame_request = requestAnimationFrame(() => {
        this.frame_request = 0
        this.draw()
      })
    }
  }

  /** Draws now, dropping a frame that was asked for; the benchmark times this. */
  render_now(): void {
    if (this.frame_request != 0) {
      cancelAnimationFrame(this.frame_request)
      this.frame_request = 0
    }
    this.draw()
  }

  override render(): void {
    super.render()
    if (this.root_el == null) {
      this.root_el = this.build_root()
    }
    this.shadow_el.append(this.root_el)
  }

  private build_root(): HTMLElement {
    this.legend_title_el = div({class: "wm-title"})
    const reset = button({class: "wm-reset", type: "button", title: "Fit the image in the view"}, "Reset view")
    reset.addEventListener("click", () => {
      this.model.follow_view = false   // the whole image, until asked to follow again
      this.scene?.reset_view()
      this.request_frame()
    })
    this.follow_box = input({type: "checkbox"})
    this.follow_box.addEventListener("change", () => {
      this.model.follow_view = this.follow_box!.checked
    })
    const follow = label({class: "wm-follow",
      title: "Keep the producer's view (the yellow frame) framed, with some of the image " +
             "around it. On by itself while the view covers less than 1% of the level; " +
             "dragging or zooming turns it off."}, this.follow_box, "follow the view")
    const bar = div({class: "wm-bar"},
      div({class: "wm-head"}, this.legend_title_el, follow, this.heat.legend.select_el, reset),
      this.build_legend(), this.heat.legend.bar_el)
    this.update_legend_visibility()
    this.update_mode_legend()
    const stage = div({class: "wm-stage"})
    const root = div({class: "wm-tiles"}, bar, stage)
    try {
      this.scene = new TileScene(this.model.grid_renderer, () => this.request_frame())
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error)
      stage.append(div({class: "wm-message"}, `The tile viewer needs WebGL: ${reason}`))
      return root
    }
    const controls = this.scene.controls
    // A camera moved by the user (between the controls' start and end) stops following.
    controls.addEventListener("start", () => this.interacting = true)
    controls.addEventListener("end", () => this.interacting = false)
    controls.addEventListener("change", () => {
      if (this.interacting && this.followed) {
        this.model.follow_view = false
      }
    })
    const canvas = this.scene.canvas
    canvas.addEventListener("pointerdown", (event) => this.on_pointer_down(event))
    canvas.addEventListener("pointerup", (event) => this.on_pointer_up(event))
    this.hover = new TileHover(canvas, (x, y) => this.tile_facts(x, y))
    stage.append(canvas, div({class: "wm-hint"},
      "drag: pan · wheel: zoom · right-drag or shift-drag: rotate · click: select a tile"),
      this.hover.element)
    // The canvas follows its own box, which the bar's wrapping can change without the model
    // being resized.
    this.stage_observer = new ResizeObserver(() => this.fit_canvas(stage))
    this.stage_observer.observe(stage)
    return root
  }

  private stage_observer: ResizeObserver | null = null

  private build_legend(): HTMLElement {
    const entries: [number, string][] = [
      [SEEN, "seen (in view)"], [LOADING, "loading"], [LOADED, "loaded"], [IDLE, "other"],
    ]
    this.count_els = [IDLE, LOADED, LOADING, SEEN].map(() => span({class: "wm-count"}, "0"))
    const items = entries.map(([state, label]) => {
      const swatch = span({class: "wm-swatch"})
      swatch.dataset.state = `${state}`
      return div({class: "wm-item wm-state-item"}, swatch, label, this.count_els[state])
    })
    const legend = div({class: "wm-items"},
      ...items,
      div({class: "wm-item"}, span({class: "wm-frame wm-view-swatch"}), "view"),
      div({class: "wm-item"},
        span({class: "wm-axis", style: {borderColor: "#ff0000"}}), "X",
        span({class: "wm-axis", style: {borderColor: "#00c000"}}), "Y (down)"),
    )
    this.legend_el = legend
    this.update_legend_swatches()
    return legend
  }

  private legend_el: HTMLElement | null = null

  private update_legend_visibility(): void {
    if (this.legend_el != null) {
      this.legend_el.style.display = this.model.show_legend ? "" : "none"
    }
  }

  /** The state swatches, or the heat map's colour bar. */
  private update_mode_legend(): void {
    const mode = this.model.color_by
    this.heat.legend.show(mode)
    for (const item of this.legend_el?.querySelectorAll<HTMLElement>(".wm-state-item") ?? []) {
      item.style.display = mode == "state" ? "" : "none"
    }
  }

  /** What the hover note says of the tile under a point of the canvas, or null. */
  private tile_facts(x: number, y: number) {
    const tile = this.scene?.pick(x, y)
    if (tile == null) {
      return null
    }
    const [row, col] = tile
    const cols = this.model.shape_in_tiles[1]
    return {level: this.model.level, row, col, state: this.states[row*cols + col] ?? IDLE,
      load: this.heat.loads.at(row, col)}
  }

  private update_legend_swatches(): void {
    if (this.legend_el == null) {
      return
    }
    const colors = this.state_colors()
    for (const swatch of this.legend_el.querySelectorAll<HTMLElement>(".wm-swatch")) {
      const [r, g, b] = colors[Number(swatch.dataset.state)]
      swatch.style.background = `rgb(${r}, ${g}, ${b})`
    }
    const frame = this.legend_el.querySelector<HTMLElement>(".wm-view-swatch")
    if (frame != null) {
      const [r, g, b] = rgb(this.model.view_color)
      frame.style.borderColor = `rgba(${r}, ${g}, ${b}, ${this.model.view_alpha})`
    }
  }

  private update_legend_text(counts: StateCounts | null): void {
    const {layer_name, level, shape_in_tiles: [rows, cols]} = this.model
    const name = layer_name.length > 0 ? `${layer_name} · ` : ""
    // textContent, never innerHTML: the layer name comes from the producer.
    this.legend_title_el.textContent = `${name}level ${level} · ${rows} × ${cols} tiles`
    if (counts != null && this.count_els.length > 0) {
      counts.forEach((n, state) => this.count_els[state].textContent = n.toLocaleString("en-US"))
    }
  }

  /** sRGB bytes of the tile colours, indexed by state code. */
  private state_colors(): RGB[] {
    const m = this.model
    const colors: RGB[] = []
    colors[IDLE] = rgb(m.idle_color)
    colors[LOADED] = rgb(m.loaded_color)
    colors[LOADING] = rgb(m.loading_color)
    colors[SEEN] = rgb(m.seen_color)
    return colors
  }

  private fit_canvas(stage: HTMLElement): void {
    const width = stage.clientWidth
    const height = stage.clientHeight
    if (this.scene != null && width > 0 && height > 0) {
      this.scene.set_size(width, height)
      // Drawn at once: a resize clears the canvas, and waiting a frame would flash it empty.
      this.render_now()
    }
  }

  /** Whether the camera follows the producer's view: as asked (follow_view), or by itself
   * while the view covers less than FOLLOW_BELOW of the level. */
  get following(): boolean {
    const asked = this.model.follow_view
    if (asked != null) {
      return asked && this.model.view_rect != null
    }
    const fraction = this.view_fraction()
    return fraction != null && fraction < FOLLOW_BELOW
  }

  /** The part of the level's image the view covers, or null without a view or an image. */
  view_fraction(): number | null {
    const m = this.model
    const rect = m.view_rect
    const [rows, cols] = m.shape_in_tiles
    const [image_h, image_w] = m.image_shape
    const h = image_h > 0 ? image_h : rows*m.tile_size
    const w = image_w > 0 ? image_w : cols*m.tile_size
    if (rect == null || h <= 0 || w <= 0) {
      return null
    }
    const [r0, c0, r1, c1] = rect
    const clip = (a: number, b: number, limit: number) =>
      Math.max(0, Math.min(Math.max(a, b), limit) - Math.max(Math.min(a, b), 0))
    return clip(r0, r1, h)*clip(c0, c1, w)/(h*w)
  }

  /** Whether a flashed tile is pulsing now. */
  get flashing(): boolean {
    return performance.now() < this.flash_until
  }

  private on_pointer_down(event: PointerEvent): void {
    this.press = event.button == 0 ? {x: event.clientX, y: event.clientY} : null
  }

  private on_pointer_up(event: PointerEvent): void {
    const press = this.press
    this.press = null
    if (press == null || this.scene == null || event.button != 0 ||
        Math.hypot(event.clientX - press.x, event.clientY - press.y) > CLICK_SLOP_PX) {
      return
    }
    const box = this.scene.canvas.getBoundingClientRect()
    const tile = this.scene.pick(event.clientX - box.left, event.clientY - box.top)
    if (tile != null) {
      const [row, col] = tile
      // The counter makes a second click on the same tile a change Python can observe.
      this.model.setv({clicked_tile: [row, col, this.model.level], click_count: this.model.click_count + 1})
    }
  }

  private draw(): void {
    const scene = this.scene
    if (scene == null) {
      return
    }
    const start = performance.now()
    const m = this.model
    const dirty = this.dirty
    const [rows, cols] = m.shape_in_tiles
    if (dirty.palette) {
      scene.set_background(rgb(m.background_color))
      scene.invalidate_colors()
      dirty.states = true
    }
    if (dirty.layout) {
      const [image_h, image_w] = m.image_shape
      const h = image_h > 0 ? image_h : rows*m.tile_size
      const w = image_w > 0 ? image_w : cols*m.tile_size
      scene.set_layout({rows, cols, image_h, image_w, tile_size: m.tile_size,
        unit: TileScene.unit_for(h, w), gap: m.gap})
      if (this.states.length < rows*cols) {
        this.states = new Uint8Array(rows*cols)
      }
    }
    if (dirty.image) {
      scene.set_image(m.show_image ? rgb_image(m.thumbnail, m.thumbnail_shape) : null)
    }
    let counts: StateCounts | null = null
    if (dirty.states) {
      const source = m.source
      const column = (name: string): Arrayable<number> => (source.get_column(name) ?? []) as Arrayable<number>
      counts = fill_states(this.states, rows, cols, column("row"), column("col"), column("state"))
    }
    if (dirty.loads || dirty.layout) {
      const source = m.load_source
      this.heat.loads.set(rows, cols, (name) => (source.get_column(name) ?? []) as Arrayable<number>)
    }
    const mode = m.color_by
    if (mode == "state" && dirty.states) {
      scene.set_fill_alpha(FILL_ALPHA[mode])
      scene.set_states(this.states, TileScene.linear_palette(this.state_colors()))
    } else if (mode != "state" && (dirty.states || dirty.loads)) {
      scene.set_fill_alpha(FILL_ALPHA[mode])
      scene.set_states(this.heat.fill(rows, cols, mode), this.heat.colors(rgb(m.idle_color)))
    }
    if (dirty.overlays || dirty.layout) {
      scene.set_view_rect(m.view_rect, rgb(m.view_color), m.view_alpha)
      scene.set_selection(this.selection_rect())
      this.follow_view_rect(scene)
      this.start_flash(scene)
    }
    this.pulse_flash(scene)
    if (dirty.states || dirty.overlays) {
      this.update_legend_text(counts)
    }
    this.dirty = {layout: false, states: false, palette: false, overlays: false, image: false, loads: false}
    scene.render()
    this.hover?.refresh()
    this.frames_drawn++
    this.last_draw_ms = performance.now() - start
  }

  /** Frames the producer's view while following it; shows the whole image again when an
   * automatic follow ends (the view grew past FOLLOW_BELOW of the level). */
  private follow_view_rect(scene: TileScene): void {
    const following = this.following
    const rect = this.model.view_rect
    if (following && rect != null) {
      scene.frame(rect, FOLLOW_CONTEXT)
    } else if (this.followed && this.model.follow_view == null) {
      scene.reset_view()
    }
    this.followed = following
    if (this.follow_box != null) {
      this.follow_box.checked = following
    }
  }

  /** A flash asked for, once its tile's level is drawn: frame the tile and pulse it. */
  private start_flash(scene: TileScene): void {
    const tile = this.model.flash_tile
    if (!this.flash_pending || tile == null || tile[2] != this.model.level ||
        this.model.shape_in_tiles[0] == 0) {
      return
    }
    this.flash_pending = false
    const rect = this.tile_rect(tile[0], tile[1])
    scene.frame(rect, FLASH_CONTEXT)
    this.flash_until = performance.now() + FLASH_MS
  }

  /** The flash's outline, fading in and out three times over FLASH_MS. */
  private pulse_flash(scene: TileScene): void {
    const tile = this.model.flash_tile
    const left = this.flash_until - performance.now()
    if (left <= 0 || tile == null || tile[2] != this.model.level) {
      scene.set_flash(null, 0)
      return
    }
    const phase = (FLASH_MS - left)/FLASH_MS*3*2*Math.PI
    scene.set_flash(this.tile_rect(tile[0], tile[1]), 0.35 + 0.65*(0.5 - 0.5*Math.cos(phase)))
    this.request_frame()   // the next step of the pulse; frames stop when it ends
  }

  /** Tile (row, col) of the current level, clipped to its image, in its pixels. */
  private tile_rect(row: number, col: number): [number, number, number, number] {
    const m = this.model
    const [image_h, image_w] = m.image_shape
    const size = m.tile_size
    const r1 = image_h > 0 ? Math.min((row + 1)*size, image_h) : (row + 1)*size
    const c1 = image_w > 0 ? Math.min((col + 1)*size, image_w) : (col + 1)*size
    return [row*size, col*size, r1, c1]
  }

  /** The clicked tile's outline, in pixels of the current level, while that level is shown. */
  private selection_rect(): [number, number, number, number] | null {
    const m = this.model
    const clicked = m.clicked_tile
    if (clicked == null || clicked[2] != m.level) {
      return null
    }
    return this.tile_rect(clicked[0], clicked[1])
  }

  override remove(): void {
    if (this.frame_request != 0) {
      cancelAnimationFrame(this.frame_request)
      this.frame_request = 0
    }
    for (const [source, handler] of [[this.source, this.on_source_change],
      [this.load_source, this.on_loads_change]] as const) {
      if (source != null) {
        this.disconnect(source.change, handler)
        this.disconnect(source.streaming, handler)
        this.disconnect(source.patching, handler)
      }
    }
    this.stage_observer?.disconnect()
    this.stage_observer = null
    this.scene?.dispose()
    this.scene = null
    super.remove()
  }
}

function rgb(color: Color): RGB {
  const [r, g, b] = color2rgba(color)
  return [r, g, b]
}

export namespace TileViewer {
  export type Attrs = p.AttrsOf<Props>
  export type Props = LayoutDOM.Props & {
    source: p.Property<ColumnDataSource>
    shape_in_tiles: p.Property<[number, number]>
    image_shape: p.Property<[number, number]>
    tile_size: p.Property<number>
    level: p.Property<number>
    view_rect: p.Property<[number, number, number, number] | null>
    layer_name: p.Property<string>
    gap: p.Property<number>
    seen_color: p.Property<Color>
    loading_color: p.Property<Color>
    loaded_color: p.Property<Color>
    idle_color: p.Property<Color>
    view_color: p.Property<Color>
    view_alpha: p.Property<number>
    background_color: p.Property<Color>
    show_legend: p.Property<boolean>
    grid_renderer: p.Property<TileGridKind>
    clicked_tile: p.Property<[number, number, number] | null>
    click_count: p.Property<number>
    follow_view: p.Property<boolean | null>
    flash_tile: p.Property<[number, number, number] | null>
    flash_count: p.Property<number>
    thumbnail: p.Property<ArrayBuffer | null>
    thumbnail_shape: p.Property<[number, number]>
    show_image: p.Property<boolean>
    load_source: p.Property<ColumnDataSource>
    color_by: p.Property<ColorBy>
  }
}

export interface TileViewer extends TileViewer.Attrs {}

export class TileViewer extends LayoutDOM {
  declare properties: TileViewer.Props
  declare __view_type__: TileViewerView

  // Must equal the Python model's module, webmon/tiles_extension/tile_viewer.py.
  static override __module__ = "webmon.tiles_extension.tile_viewer"

  constructor(attrs?: Partial<TileViewer.Attrs>) {
    super(attrs)
  }

  static {
    this.prototype.default_view = TileViewerView

    // Defaults must match the Python model's: Python does not send values left at default.
    this.define<TileViewer.Props>(({Int, Float, Str, Bool, Ref, Tuple, Nullable, Color, Alpha, Bytes, Enum}) => ({
      source:           [ Ref(ColumnDataSource), () => new ColumnDataSource({data: {row: [], col: [], state: []}}) ],
      shape_in_tiles:   [ Tuple(Int, Int), [0, 0] ],
      image_shape:      [ Tuple(Int, Int), [0, 0] ],
      tile_size:        [ Int, 256 ],
      level:            [ Int, 0 ],
      view_rect:        [ Nullable(Tuple(Float, Float, Float, Float)), null ],
      layer_name:       [ Str, "" ],
      gap:              [ Float, 0.05 ],
      seen_color:       [ Color, "#E11313" ],
      loading_color:    [ Color, "#B279A2" ],
      loaded_color:     [ Color, "#4C78A8" ],
      idle_color:       [ Color, "#A3A2A0" ],
      view_color:       [ Color, "#F5C542" ],
      view_alpha:       [ Alpha, 0.8 ],
      background_color: [ Color, "#202124" ],
      show_legend:      [ Bool, true ],
      grid_renderer:    [ Str, "shader" ],
      clicked_tile:     [ Nullable(Tuple(Int, Int, Int)), null ],
      click_count:      [ Int, 0 ],
      follow_view:      [ Nullable(Bool), null ],
      flash_tile:       [ Nullable(Tuple(Int, Int, Int)), null ],
      flash_count:      [ Int, 0 ],
      thumbnail:        [ Nullable(Bytes), null ],
      thumbnail_shape:  [ Tuple(Int, Int), [0, 0] ],
      show_image:       [ Bool, true ],
      load_source:      [ Ref(ColumnDataSource), () => new ColumnDataSource({data: {row: [], col: [], loads: [], mean_ms: [], last_ms: []}}) ],
      color_by:         [ Enum(...COLOR_BY_LABELS.map(([mode]) => mode)), "state" ],
    }))

    this.override<TileViewer.Props>({
      width: 600,
      height: 600,
    })
  }
}
