// The two grids the benchmark measures the shader grid against
// (benchmarks/bench_tiles_render.py).  They are not in the shipped bundle: build.py copies
// this file beside the extension's sources and bundles them together, and loading registers
// them with the viewer's `register_grid`.
//
// `InstancedTileGrid` is one InstancedMesh with a matrix and a colour per tile: one draw call,
// and an update rewrites only the colours that changed.  It is fast on a GPU, but software
// WebGL (SwiftShader, what headless and GPU-less browsers use) processes instances one by one
// (docs/tiles.md has the figures).
//
// `MeshPerTileGrid` is the obvious design (one Mesh and one material per tile, as the 2020
// page did); it is slow above a few thousand tiles.
import * as THREE from "three"
import type {GridLayout, TileGrid} from "./tile_grids"
import {register_grid} from "./tile_grids"

/** A state no tile ever has: marks a tile whose colour must be written. */
const UNDRAWN = 255

/** Calls `place(i, cx, cy, sx, sy)` with the centre and size, in world units, of every tile. */
function for_each_tile(layout: GridLayout,
    place: (i: number, cx: number, cy: number, sx: number, sy: number) => void): void {
  const {rows, cols, tile_size, unit} = layout
  // Without a known image shape the grid itself is the image.
  const image_h = layout.image_h > 0 ? layout.image_h : rows*tile_size
  const image_w = layout.image_w > 0 ? layout.image_w : cols*tile_size
  const gap = layout.gap*tile_size
  for (let r = 0; r < rows; r++) {
    const y0 = r*tile_size
    const y1 = Math.min(y0 + tile_size, image_h)
    const sy = Math.max(y1 - y0 - gap, 0)*unit
    // The grid group is flipped (+Y down), so rows grow towards +y here.
    const cy = (y0 + y1)/2*unit
    for (let c = 0; c < cols; c++) {
      const x0 = c*tile_size
      const x1 = Math.min(x0 + tile_size, image_w)
      const sx = Math.max(x1 - x0 - gap, 0)*unit
      place(r*cols + c, (x0 + x1)/2*unit, cy, sx, sy)
    }
  }
}

export class InstancedTileGrid implements TileGrid {
  readonly object = new THREE.Group()
  private readonly geometry = new THREE.PlaneGeometry(1, 1)
  private readonly material = new THREE.MeshBasicMaterial({color: 0xffffff})
  private mesh: THREE.InstancedMesh
  private capacity = 0
  private count = 0
  private drawn = new Uint8Array(0)

  constructor() {
    this.mesh = this.allocate(1024)
  }

  private allocate(capacity: number): THREE.InstancedMesh {
    const mesh = new THREE.InstancedMesh(this.geometry, this.material, capacity)
    mesh.instanceMatrix.setUsage(THREE.DynamicDrawUsage)
    mesh.instanceColor = new THREE.InstancedBufferAttribute(new Float32Array(3*capacity), 3)
    mesh.instanceColor.setUsage(THREE.DynamicDrawUsage)
    // The bounding sphere would have to be recomputed over every instance after each layout
    // change; the grid is always near the view, so culling saves nothing.
    mesh.frustumCulled = false
    mesh.count = 0
    this.capacity = capacity
    this.drawn = new Uint8Array(capacity).fill(UNDRAWN)
    this.object.add(mesh)
    return mesh
  }

  set_layout(layout: GridLayout): void {
    const count = layout.rows*layout.cols
    if (count > this.capacity) {
      // Grow by powers of two so that zooming through the levels reallocates at most a few times.
      this.object.remove(this.mesh)
      this.mesh.dispose()
      this.mesh = this.allocate(2**Math.ceil(Math.log2(count)))
    }
    // Scale and translation only: write the column-major matrices directly, no Matrix4 objects.
    const m = this.mesh.instanceMatrix.array as Float32Array
    for_each_tile(layout, (i, cx, cy, sx, sy) => {
      const o = 16*i
      m[o] = sx; m[o + 1] = 0; m[o + 2] = 0; m[o + 3] = 0
      m[o + 4] = 0; m[o + 5] = sy; m[o + 6] = 0; m[o + 7] = 0
      m[o + 8] = 0; m[o + 9] = 0; m[o + 10] = 1; m[o + 11] = 0
      m[o + 12] = cx; m[o + 13] = cy; m[o + 14] = 0; m[o + 15] = 1
    })
    const attr = this.mesh.instanceMatrix
    attr.clearUpdateRanges()
    attr.addUpdateRange(0, 16*count)
    attr.needsUpdate = true
    this.count = count
    this.mesh.count = count
    this.drawn.fill(UNDRAWN)
  }

  set_states(states: Uint8Array, palette: Float32Array): void {
    const attr = this.mesh.instanceColor!
    const colors = attr.array as Float32Array
    const {drawn, count} = this
    let first = -1
    let last = -1
    for (let i = 0; i < count; i++) {
      const s = states[i]
      if (drawn[i] != s) {
        drawn[i] = s
        colors[3*i] = palette[3*s]
        colors[3*i + 1] = palette[3*s + 1]
        colors[3*i + 2] = palette[3*s + 2]
        if (first < 0) {
          first = i
        }
        last = i
      }
    }
    if (first >= 0) {
      // Upload only the span that changed: a level's worth of new loads is usually local.
      attr.clearUpdateRanges()
      attr.addUpdateRange(3*first, 3*(last - first + 1))
      attr.needsUpdate = true
    }
  }

  invalidate_colors(): void {
    this.drawn.fill(UNDRAWN)
  }

  set_background(): void {}   // the clear colour shows between the tiles

  dispose(): void {
    this.mesh.dispose()
    this.geometry.dispose()
    this.material.dispose()
  }
}

export class MeshPerTileGrid implements TileGrid {
  readonly object = new THREE.Group()
  private readonly geometry = new THREE.PlaneGeometry(1, 1)
  private meshes: THREE.Mesh<THREE.PlaneGeometry, THREE.MeshBasicMaterial>[] = []
  private drawn = new Uint8Array(0)

  set_layout(layout: GridLayout): void {
    this.clear()
    const count = layout.rows*layout.cols
    const meshes = new Array(count)
    for_each_tile(layout, (i, cx, cy, sx, sy) => {
      const mesh = new THREE.Mesh(this.geometry, new THREE.MeshBasicMaterial())
      mesh.position.set(cx, cy, 0)
      mesh.scale.set(sx, sy, 1)
      meshes[i] = mesh
    })
    this.meshes = meshes
    if (count > 0) {
      this.object.add(...meshes)
    }
    this.drawn = new Uint8Array(count).fill(UNDRAWN)
  }

  set_states(states: Uint8Array, palette: Float32Array): void {
    const {drawn, meshes} = this
    for (let i = 0; i < meshes.length; i++) {
      const s = states[i]
      if (drawn[i] != s) {
        drawn[i] = s
        meshes[i].material.color.setRGB(palette[3*s], palette[3*s + 1], palette[3*s + 2])
      }
    }
  }

  invalidate_colors(): void {
    this.drawn.fill(UNDRAWN)
  }

  set_background(): void {}   // the clear colour shows between the tiles

  private clear(): void {
    for (const mesh of this.meshes) {
      mesh.material.dispose()
    }
    this.object.clear()
    this.meshes = []
  }

  dispose(): void {
    this.clear()
    this.geometry.dispose()
  }
}

register_grid("instanced", () => new InstancedTileGrid())
register_grid("mesh_per_tile", () => new MeshPerTileGrid())
