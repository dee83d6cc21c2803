// Tile state codes, as the Python side (webmon/tiles.py) writes them into the
// data source's `state` column, and the per-tile state array the grids draw from.
import type {Arrayable} from "@bokehjs/core/types"

export const IDLE = 0
export const LOADED = 1
export const LOADING = 2
export const SEEN = 3
export const STATE_COUNT = 4

export type StateCounts = [idle: number, loaded: number, loading: number, seen: number]

/** Writes one code per tile of a `rows` x `cols` grid into `out` (row-major) and counts them.
 *
 * Tiles missing from the columns are idle.  A tile listed twice takes its last row, so Python
 * can stream a row to change one tile.  Rows outside the grid or with an unknown code are
 * skipped: a producer's mistake must not break the picture.
 */
export function fill_states(out: Uint8Array, rows: number, cols: number,
    row: Arrayable<number>, col: Arrayable<number>, state: Arrayable<number>): StateCounts {
  const count = rows*cols
  out.fill(IDLE, 0, count)
  const n = Math.min(row.length, col.length, state.length)
  for (let i = 0; i < n; i++) {
    const r = row[i]
    const c = col[i]
    const s = state[i]
    if (r >= 0 && r < rows && c >= 0 && c < cols && s >= 0 && s < STATE_COUNT) {
      out[r*cols + c] = s
    }
  }
  const counts: StateCounts = [0, 0, 0, 0]
  for (let i = 0; i < count; i++) {
    counts[out[i]]++
  }
  return counts
}
