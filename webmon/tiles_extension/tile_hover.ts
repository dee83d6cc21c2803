// Hovering a tile: a note beside the pointer with the tile's level, row and column, its state,
// and how many times it loaded with its mean and last load time.
import {div} from "@bokehjs/core/dom"

import type {TileLoad} from "./tile_heat"
import {IDLE, LOADED, LOADING, SEEN} from "./tile_states"

export const hover_css = `
.wm-hover { position: absolute; pointer-events: none; padding: 4px 7px; border-radius: 4px;
  background: rgba(20, 20, 22, 0.88); color: #f2f2f2; font-size: 11px; line-height: 1.45;
  white-space: nowrap; font-variant-numeric: tabular-nums; }
`

const STATE_NAMES: {[code: number]: string} = {
  [SEEN]: "in view", [LOADING]: "loading", [LOADED]: "loaded", [IDLE]: "not loaded",
}

/** What the note says about one tile. */
export type TileFacts = {level: number, row: number, col: number, state: number, load: TileLoad | null}

/** The note's lines for `facts`. */
export function describe_tile({level, row, col, state, load}: TileFacts): string[] {
  const lines = [`level ${level} · row ${row}, col ${col}`, `state: ${STATE_NAMES[state] ?? "unknown"}`]
  if (load == null || !(load.loads > 0)) {
    lines.push("loads: none recorded")
  } else {
    const ms = (value: number) => Number.isFinite(value) ? `${value.toFixed(1)} ms` : "?"
    lines.push(`loads: ${load.loads.toLocaleString("en-US")} · mean ${ms(load.mean_ms)} · last ${ms(load.last_ms)}`)
  }
  return lines
}

/** Follows the pointer over `canvas` and shows what `facts(x, y)` says of the tile under it
 *  (CSS pixels from the canvas's top-left), or nothing off the image and while dragging. */
export class TileHover {
  readonly element: HTMLElement
  private point: {x: number, y: number} | null = null

  constructor(private readonly canvas: HTMLElement,
              private readonly facts: (x: number, y: number) => TileFacts | null) {
    this.element = div({class: "wm-hover"})
    this.element.style.display = "none"
    canvas.addEventListener("pointermove", (event) => {
      const box = canvas.getBoundingClientRect()
      this.point = event.buttons == 0 ? {x: event.clientX - box.left, y: event.clientY - box.top} : null
      this.refresh()
    })
    canvas.addEventListener("pointerleave", () => {
      this.point = null
      this.refresh()
    })
  }

  /** Says again what is under the pointer (the tiles change under a still pointer too). */
  refresh(): void {
    const point = this.point
    const facts = point != null ? this.facts(point.x, point.y) : null
    if (point == null || facts == null) {
      this.element.style.display = "none"
      return
    }
    // textContent, never innerHTML; one line each.
    this.element.replaceChildren(...describe_tile(facts).map((line) => div(line)))
    this.element.style.display = ""
    // Beside the pointer, kept inside the canvas.
    const width = this.canvas.clientWidth
    const left = point.x + 14 + this.element.offsetWidth > width ? point.x - 14 - this.element.offsetWidth : point.x + 14
    this.element.style.left = `${Math.max(left, 0)}px`
    this.element.style.top = `${Math.max(point.y + 14, 0)}px`
  }
}
