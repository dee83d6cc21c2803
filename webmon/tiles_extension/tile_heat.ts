// The heat map: each tile of the shown level coloured by its mean or last load time, or by how
// many times it loaded, from the viewer's load_source (one row per tile: row, col, loads,
// mean_ms, last_ms; a tile listed twice takes its last row).  Also the legend's mode selector
// and colour bar.  The grid draws the heat map as it draws states: one byte per tile, here an
// index into the colour scale (0: no load recorded).
import type {Arrayable} from "@bokehjs/core/types"
import {div, span, select, option} from "@bokehjs/core/dom"

import type {RGB} from "./tile_scene"
import {TileScene} from "./tile_scene"

export const heat_css = `
.wm-mode { font: inherit; padding: 0 2px; }
.wm-gradient { display: inline-block; width: 120px; height: 10px; border-radius: 2px; }
`

/** What colours the tiles: their state, or one of the load figures. */
export type ColorBy = "state" | "mean_ms" | "last_ms" | "loads"
export type HeatMetric = Exclude<ColorBy, "state">

/** Opacity of a coloured tile's fill over a picture: states leave more of the picture seen. */
export const FILL_ALPHA: {[mode in ColorBy]: number} = {state: 0.35, mean_ms: 0.6, last_ms: 0.6, loads: 0.6}

export const COLOR_BY_LABELS: [ColorBy, string][] = [
  ["state", "tile state"],
  ["mean_ms", "mean load time"],
  ["last_ms", "last load time"],
  ["loads", "number of loads"],
]

/** The colour scale: Viridis (bokeh.palettes.Viridis256, a test holds them equal), as RGB hex. */
const VIRIDIS_HEX =
  "44015444025544035745055845065A45085B46095C460B5E460C5F460E61470F62471163471265471466471567471669" +
  "47186A48196B481A6C481C6E481D6F481E70482071482172482273482374472575472676472777472878472A79472B7A" +
  "472C7B462D7C462F7C46307D46317E45327F45347F453580453681443781443982433A83433B83433C84423D84423E85" +
  "4240854141864142864043874044873F45873F47883E48883E49893D4A893D4B893D4C893C4D8A3C4E8A3B508A3B518A" +
  "3A528B3A538B39548B39558B38568B38578C37588C37598C365A8C365B8C355C8C355D8C345E8D345F8D33608D33618D" +
  "32628D32638D31648D31658D31668D30678D30688D2F698D2F6A8D2E6B8E2E6C8E2E6D8E2D6E8E2D6F8E2C708E2C718E" +
  "2C728E2B738E2B748E2A758E2A768E2A778E29788E29798E287A8E287A8E287B8E277C8E277D8E277E8E267F8E26808E" +
  "26818E25828E25838D24848D24858D24868D23878D23888D23898D22898D228A8D228B8D218C8D218D8C218E8C208F8C" +
  "20908C20918C1F928C1F938B1F948B1F958B1F968B1E978A1E988A1E998A1E998A1E9A891E9B891E9C891E9D881E9E88" +
  "1E9F881EA0871FA1871FA2861FA38620A48520A58521A68521A78422A78423A88323A98224AA8225AB8126AC8127AD80" +
  "28AE7F29AF7F2AB07E2BB17D2CB17D2EB27C2FB37B30B47A32B57A33B67935B77836B87738B97639B9763BBA753DBB74" +
  "3EBC7340BD7242BE7144BE7045BF6F47C06E49C16D4BC26C4DC26B4FC36951C46853C56755C66657C66559C7645BC862" +
  "5EC96160C96062CA5F64CB5D67CC5C69CC5B6BCD596DCE5870CE5672CF5574D05477D05279D1517CD24F7ED24E81D34C" +
  "83D34B86D44988D5478BD5468DD64490D64392D74195D73F97D83E9AD83C9DD93A9FD938A2DA37A5DA35A7DB33AADB32" +
  "ADDC30AFDC2EB2DD2CB5DD2BB7DD29BADE27BDDE26BFDF24C2DF22C5DF21C7E01FCAE01ECDE01DCFE11CD2E11BD4E11A" +
  "D7E219DAE218DCE218DFE318E1E318E4E318E7E419E9E419ECE41AEEE51BF1E51CF3E51EF6E61FF8E621FAE622FDE724"

/** Heat codes run from 1 (the smallest value shown) to HEAT_CODES (the largest); code k is
 *  Viridis256[k] (its darkest entry, 0, is left out). */
export const HEAT_CODES = 255

function viridis(k: number): RGB {
  const hex = VIRIDIS_HEX.slice(6*k, 6*k + 6)
  return [parseInt(hex.slice(0, 2), 16), parseInt(hex.slice(2, 4), 16), parseInt(hex.slice(4, 6), 16)]
}

/** sRGB colours by heat code; code 0 (no load recorded) is `none`. */
export function heat_colors(none: RGB): RGB[] {
  const colors: RGB[] = [none]
  for (let k = 1; k <= HEAT_CODES; k++) {
    colors.push(viridis(k))
  }
  return colors
}

/** The range of the values coloured, and how many tiles have one. */
export type HeatRange = {min: number, max: number, tiles: number}

/** One tile's load figures. */
export type TileLoad = {loads: number, mean_ms: number, last_ms: number}

type Column = Arrayable<number>

/** The load figures of the shown level's tiles, from the load source's columns. */
export class TileLoads {
  private rows = 0
  private cols = 0
  private row: Column = []
  private col: Column = []
  private columns: Record<HeatMetric, Column> = {loads: [], mean_ms: [], last_ms: []}
  private values = new Float64Array(0)
  private index: Map<number, number> | null = null

  /** The source's columns for a grid of `rows` x `cols` tiles. */
  set(rows: number, cols: number, column: (name: string) => Column): void {
    this.rows = rows
    this.cols = cols
    this.row = column("row")
    this.col = column("col")
    this.columns = {loads: column("loads"), mean_ms: column("mean_ms"), last_ms: column("last_ms")}
    this.index = null
  }

  private get length(): number {
    const {loads, mean_ms, last_ms} = this.columns
    return Math.min(this.row.length, this.col.length, loads.length, mean_ms.length, last_ms.length)
  }

  /** Writes each tile's heat code into `out` (row-major, `rows * cols`): 0 without a finite
   *  value, else 1 to HEAT_CODES along the range of the values.  Rows outside the grid are
   *  skipped: a producer's mistake must not break the picture. */
  fill(out: Uint8Array, metric: HeatMetric): HeatRange {
    const {rows, cols, row, col} = this
    const count = rows*cols
    const n = this.length
    const value = this.columns[metric]
    if (this.values.length < count) {
      this.values = new Float64Array(count)
    }
    const values = this.values
    out.fill(0, 0, count)
    // The last row of a tile wins: write every row, then read each tile's final value.
    for (let i = 0; i < n; i++) {
      const r = row[i]
      const c = col[i]
      if (r >= 0 && r < rows && c >= 0 && c < cols) {
        values[r*cols + c] = value[i]
        out[r*cols + c] = 1   // marks a tile listed
      }
    }
    let min = Infinity
    let max = -Infinity
    let tiles = 0
    for (let t = 0; t < count; t++) {
      if (out[t] != 0) {
        const v = values[t]
        if (Number.isFinite(v)) {
          tiles++
          if (v < min) min = v
          if (v > max) max = v
        } else {
          out[t] = 0
        }
      }
    }
    const span = max - min
    for (let t = 0; t < count; t++) {
      if (out[t] != 0) {
        const f = span > 0 ? (values[t] - min)/span : 1
        out[t] = 1 + Math.round(f*(HEAT_CODES - 1))
      }
    }
    return tiles > 0 ? {min, max, tiles} : {min: NaN, max: NaN, tiles: 0}
  }

  /** The figures of tile (`r`, `c`), or null when it has none. */
  at(r: number, c: number): TileLoad | null {
    if (this.index == null) {
      const index = new Map<number, number>()
      const n = this.length
      const {rows, cols, row, col} = this
      for (let i = 0; i < n; i++) {
        const r = row[i]
        const c = col[i]
        if (r >= 0 && r < rows && c >= 0 && c < cols) {
          index.set(r*cols + c, i)   // the last row wins
        }
      }
      this.index = index
    }
    if (r < 0 || c < 0 || r >= this.rows || c >= this.cols) {
      return null
    }
    const i = this.index.get(r*this.cols + c)
    if (i == null) {
      return null
    }
    const {loads, mean_ms, last_ms} = this.columns
    return {loads: loads[i], mean_ms: mean_ms[i], last_ms: last_ms[i]}
  }
}

function format_value(metric: HeatMetric, value: number): string {
  if (metric == "loads") {
    return Math.round(value).toLocaleString("en-US")
  }
  return `${value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : Math.round(value).toLocaleString("en-US")} ms`
}

/** The legend's mode selector and the colour bar of the heat map. */
export class HeatLegend {
  readonly select_el: HTMLElement
  readonly bar_el: HTMLElement
  private readonly select: HTMLSelectElement
  private readonly min_el: HTMLElement
  private readonly max_el: HTMLElement
  private readonly note_el: HTMLElement

  constructor(on_change: (mode: ColorBy) => void) {
    this.select = select({class: "wm-mode", title: "What colours the tiles"},
      ...COLOR_BY_LABELS.map(([value, label]) => option({value}, label)))
    this.select.addEventListener("change", () => on_change(this.select.value as ColorBy))
    this.select_el = div({class: "wm-item"}, "colour by", this.select)
    const stops = [0, 32, 64, 96, 128, 160, 192, 224, 255].map((k) => {
      const [r, g, b] = viridis(Math.max(k, 1))
      return `rgb(${r}, ${g}, ${b})`
    })
    const gradient = span({class: "wm-gradient",
      style: {background: `linear-gradient(to right, ${stops.join(", ")})`}})
    this.min_el = span({class: "wm-count wm-heat-min"})
    this.max_el = span({class: "wm-count wm-heat-max"})
    this.note_el = span({class: "wm-count wm-heat-note"})
    this.bar_el = div({class: "wm-items wm-colorbar"},
      div({class: "wm-item"}, this.min_el, gradient, this.max_el), this.note_el)
  }

  /** Show `mode` as selected; the colour bar shows only for a heat map. */
  show(mode: ColorBy): void {
    this.select.value = mode
    this.bar_el.style.display = mode == "state" ? "none" : ""
  }

  /** The colour bar's labels for `metric` over `range`. */
  set_range(metric: HeatMetric, range: HeatRange): void {
    if (range.tiles == 0) {
      this.min_el.textContent = ""
      this.max_el.textContent = ""
      this.note_el.textContent = "no load recorded at this level yet"
      return
    }
    this.min_el.textContent = format_value(metric, range.min)
    this.max_el.textContent = format_value(metric, range.max)
    const what = COLOR_BY_LABELS.find(([value]) => value == metric)?.[1] ?? metric
    this.note_el.textContent = `${what}, ${range.tiles.toLocaleString("en-US")} tiles loaded; others uncoloured`
  }
}

/** The heat map of the shown level: the tiles' load figures, their heat codes, the colours,
 *  and the legend's selector and colour bar. */
export class HeatMap {
  readonly loads = new TileLoads()
  readonly legend: HeatLegend
  private codes = new Uint8Array(0)
  private palette_key = ""
  private palette: Float32Array = new Float32Array(0)

  constructor(on_mode: (mode: ColorBy) => void) {
    this.legend = new HeatLegend(on_mode)
  }

  /** Each tile's heat code by `metric` (a grid of `rows` x `cols`); the colour bar follows. */
  fill(rows: number, cols: number, metric: HeatMetric): Uint8Array {
    if (this.codes.length < rows*cols) {
      this.codes = new Uint8Array(rows*cols)
    }
    this.legend.set_range(metric, this.loads.fill(this.codes, metric))
    return this.codes
  }

  /** The colours by heat code, linear RGB, with `idle` for tiles without loads. */
  colors(idle: RGB): Float32Array {
    const key = idle.join()
    if (key != this.palette_key) {
      this.palette = TileScene.linear_palette(heat_colors(idle))
      this.palette_key = key
    }
    return this.palette
  }
}
