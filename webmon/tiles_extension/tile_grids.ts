// Three ways to draw a grid of coloured tiles with three.js.
//
// `ShaderTileGrid`, the default, draws the whole level as one quad: the tile states live in a
// texture of rows x cols bytes and the fragment shader finds each pixel's tile, its colour and
// the gap between tiles.  An update uploads that texture (64 KiB for 256 x 256 tiles), and a
// frame costs the same whatever the number of tiles.
//
// `InstancedTileGrid` is one InstancedMesh with a matrix and a colour per tile: one draw call,
// and an update rewrites only the colours that changed.  It is fast on a GPU, but software
// WebGL (SwiftShader, what headless and GPU-less browsers use) processes instances one by one,
// which costs about a second a frame at 65,536 tiles; see docs/tiles.md for the figures.
//
// `MeshPerTileGrid` is the obvious design (one Mesh and one material per tile, as the 2020 page
// did), kept so the benchmark can measure it beside the others; it is slow above a few
// thousand tiles.
import * as THREE from "three"

/** Where the tiles of one level go.  Sizes are in pixels of that level. */
export type GridLayout = {
  rows: number
  cols: number
  image_h: number   // the level's image height: tiles of the last row are clipped to it
  image_w: number
  tile_size: number
  unit: number      // world units per pixel
  gap: number       // fraction of the tile size left empty between neighbouring tiles
}

export type TileGridKind = "shader" | "instanced" | "mesh_per_tile"

export interface TileGrid {
  readonly object: THREE.Object3D
  /** Place `rows * cols` tiles; every tile is repainted by the next `set_states`. */
  set_layout(layout: GridLayout): void
  /** Colour tile `i` with `palette[3*states[i] ...]` (linear RGB); only changed tiles are touched. */
  set_states(states: Uint8Array, palette: Float32Array): void
  /** Forget the drawn colours, e.g. because the palette changed. */
  invalidate_colors(): void
  /** The colour behind the tiles (linear RGB), for grids that paint their own gaps. */
  set_background(color: THREE.Color): void
  dispose(): void
}

export function make_grid(kind: TileGridKind): TileGrid {
  switch (kind) {
    case "shader": return new ShaderTileGrid()
    case "instanced": return new InstancedTileGrid()
    case "mesh_per_tile": return new MeshPerTileGrid()
  }
}

const tile_vertex_shader = `
uniform vec2 image_px;
varying vec2 v_px;
void main() {
  v_px = uv*image_px;  // uv (0, 0) is the image's top-left pixel: the grid group is flipped
  gl_Position = projectionMatrix*modelViewMatrix*vec4(position, 1.0);
}
`

const tile_fragment_shader = `
uniform highp sampler2D states;  // one byte per tile: the state code
uniform vec2 grid;               // cols, rows
uniform vec2 image_px;           // width, height of the level's image
uniform float tile_px;
uniform float gap_px;
uniform vec3 palette[4];
uniform vec3 background;
varying vec2 v_px;
void main() {
  // Derivatives first: they are undefined inside a branch that neighbouring pixels skip.
  vec2 pixel_size = max(fwidth(v_px), vec2(1e-6));
  vec2 tile = floor(v_px/tile_px);
  vec3 color = background;
  if (tile.x < grid.x && tile.y < grid.y) {
    vec2 lo = tile*tile_px;
    vec2 hi = min(lo + tile_px, image_px);   // the last row and column are clipped to the image
    vec2 inside = min(v_px - lo, hi - v_px) - 0.5*gap_px;
    // Coverage of this screen pixel by the tile, so edges stay smooth without multisampling.
    vec2 cover = clamp(inside/pixel_size + 0.5, 0.0, 1.0);
    int code = min(int(texelFetch(states, ivec2(tile), 0).r*255.0 + 0.5), 3);
    color = mix(background, palette[code], cover.x*cover.y);
  }
  gl_FragColor = vec4(color, 1.0);
  #include <colorspace_fragment>
}
`

export class ShaderTileGrid implements TileGrid {
  readonly object = new THREE.Group()
  private readonly geometry = new THREE.PlaneGeometry(1, 1)
  private readonly material: THREE.ShaderMaterial
  private readonly mesh: THREE.Mesh
  private texture: THREE.DataTexture | null = null
  private count = 0

  constructor() {
    this.material = new THREE.ShaderMaterial({
      vertexShader: tile_vertex_shader,
      fragmentShader: tile_fragment_shader,
      side: THREE.DoubleSide,   // still drawn when rotated to show its back
      uniforms: {
        states: {value: null},
        grid: {value: new THREE.Vector2()},
        image_px: {value: new THREE.Vector2()},
        tile_px: {value: 256},
        gap_px: {value: 0},
        palette: {value: [new THREE.Color(), new THREE.Color(), new THREE.Color(), new THREE.Color()]},
        background: {value: new THREE.Color()},
      },
    })
    this.mesh = new THREE.Mesh(this.geometry, this.material)
    this.mesh.frustumCulled = false
    this.mesh.visible = false
    this.object.add(this.mesh)
  }

  set_layout(layout: GridLayout): void {
    const {rows, cols, tile_size, unit} = layout
    const image_h = layout.image_h > 0 ? layout.image_h : rows*tile_size
    const image_w = layout.image_w > 0 ? layout.image_w : cols*tile_size
    this.count = rows*cols
    this.texture?.dispose()
    this.texture = null
    this.mesh.visible = this.count > 0
    if (this.count > 0) {
      const texture = new THREE.DataTexture(new Uint8Array(this.count), cols, rows,
        THREE.RedFormat, THREE.UnsignedByteType)
      texture.unpackAlignment = 1   // rows of `cols` bytes, not padded to 4
      texture.magFilter = THREE.NearestFilter
      texture.minFilter = THREE.NearestFilter
      texture.generateMipmaps = false
      this.texture = texture
    }
    const u = this.material.uniforms
    u.states.value = this.texture
    u.grid.value.set(cols, rows)
    u.image_px.value.set(image_w, image_h)
    u.tile_px.value = tile_size
    u.gap_px.value = layout.gap*tile_size
    this.mesh.position.set(image_w*unit/2, image_h*unit/2, 0)
    this.mesh.scale.set(image_w*unit, image_h*unit, 1)
  }

  set_states(states: Uint8Array, palette: Float32Array): void {
    const colors = this.material.uniforms.palette.value as THREE.Color[]
    colors.forEach((color, i) => color.setRGB(palette[3*i], palette[3*i + 1], palette[3*i + 2]))
    if (this.texture != null) {
      (this.texture.image.data as Uint8Array).set(states.subarray(0, this.count))
      this.texture.needsUpdate = true
    }
  }

  invalidate_colors(): void {}

  set_background(color: THREE.Color): void {
    (this.material.uniforms.background.value as THREE.Color).copy(color)
  }

  dispose(): void {
    this.texture?.dispose()
    this.geometry.dispose()
    this.material.dispose()
  }
}

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
