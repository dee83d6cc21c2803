// How the tile viewer draws a grid of coloured tiles with three.js.
//
// `ShaderTileGrid` draws the whole level as one quad: the tile states live in a texture of
// one byte per tile and the fragment shader finds each pixel's tile, its colour and the gap
// between tiles.  An update uploads that texture (64 KiB for 256 x 256 tiles), and a frame
// costs the same whatever the number of tiles.  The states are laid out row after row in a
// texture as wide as the browser allows, so a grid of any width fits.
//
// It is the only grid the shipped bundle has.  Other ways register with `register_grid`:
// the benchmark's own build (benchmarks/tile_grids/) adds one InstancedMesh and one mesh per
// tile, to measure the shader against.
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

/** The name of a registered grid: "shader" in the shipped bundle. */
export type TileGridKind = string

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

/** Makes a grid; `max_texture_size` is the renderer's largest texture side. */
export type GridMaker = (max_texture_size: number) => TileGrid

const makers = new Map<TileGridKind, GridMaker>([
  ["shader", (max_texture_size) => new ShaderTileGrid(max_texture_size)],
])

/** Makes `kind` available to `make_grid` (a build with more grids calls it on loading). */
export function register_grid(kind: TileGridKind, make: GridMaker): void {
  makers.set(kind, make)
}

/** The grid `kind`, or the shader grid when this bundle has no such kind. */
export function make_grid(kind: TileGridKind, max_texture_size: number): TileGrid {
  const make = makers.get(kind)
  if (make == null) {
    console.warn(`webmon: no tile grid "${kind}" in this bundle; drawing with "shader"`)
    return new ShaderTileGrid(max_texture_size)
  }
  return make(max_texture_size)
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
uniform highp sampler2D states;  // one byte per tile, row after row: the state code
uniform int states_width;        // texels per row of that texture
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
    int index = int(tile.y)*int(grid.x) + int(tile.x);
    ivec2 texel = ivec2(index % states_width, index / states_width);
    int code = min(int(texelFetch(states, texel, 0).r*255.0 + 0.5), 3);
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

  /** `max_texture_size`: the longest texture side the renderer allows. */
  constructor(private readonly max_texture_size: number) {
    this.material = new THREE.ShaderMaterial({
      vertexShader: tile_vertex_shader,
      fragmentShader: tile_fragment_shader,
      side: THREE.DoubleSide,   // still drawn when rotated to show its back
      uniforms: {
        states: {value: null},
        states_width: {value: 1},
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
    // Row after row of tiles, wrapped at the widest texture row allowed.
    const width = Math.max(Math.min(this.count, this.max_texture_size), 1)
    const height = Math.ceil(this.count/width)
    const fits = height <= this.max_texture_size
    if (!fits) {
      console.warn(`webmon: ${rows} x ${cols} tiles do not fit a texture of this browser`)
    }
    this.mesh.visible = this.count > 0 && fits
    if (this.count > 0 && fits) {
      const texture = new THREE.DataTexture(new Uint8Array(width*height), width, height,
        THREE.RedFormat, THREE.UnsignedByteType)
      texture.unpackAlignment = 1   // rows of `width` bytes, not padded to 4
      texture.magFilter = THREE.NearestFilter
      texture.minFilter = THREE.NearestFilter
      texture.generateMipmaps = false
      this.texture = texture
    }
    const u = this.material.uniforms
    u.states.value = this.texture
    u.states_width.value = width
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
