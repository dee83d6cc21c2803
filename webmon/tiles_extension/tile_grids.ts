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
  /** Colour tile `i` with `palette[3*states[i] ...]` (linear RGB, up to 256 colours: the
   *  four states, or a heat map's scale); only changed tiles are touched. */
  set_states(states: Uint8Array, palette: Float32Array): void
  /** Forget the drawn colours, e.g. because the palette changed. */
  invalidate_colors(): void
  /** The colour behind the tiles (linear RGB), for grids that paint their own gaps. */
  set_background(color: THREE.Color): void
  /** Draw over `image` (a layer's thumbnail, stretched over the level's image; null for
   *  none): code 0 as grid lines only, other codes as fills of opacity `fill_alpha` with an
   *  outline.  Grids without it draw opaque tiles and no picture. */
  set_overlay?(image: THREE.Texture | null, fill_alpha: number): void
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

/** Colours a grid can draw: one byte per tile indexes them. */
export const PALETTE_SIZE = 256

const tile_vertex_shader = `
uniform vec2 image_px;
varying vec2 v_px;
void main() {
  v_px = uv*image_px;  // uv (0, 0) is the image's top-left pixel: the grid group is flipped
  gl_Position = projectionMatrix*modelViewMatrix*vec4(position, 1.0);
}
`

const tile_fragment_shader = `
uniform highp sampler2D states;  // one byte per tile, row after row: the colour's index
uniform int states_width;        // texels per row of that texture
uniform highp sampler2D palette; // 256 x 1 sRGB colours (0..1), by index
uniform vec2 grid;               // cols, rows
uniform vec2 image_px;           // width, height of the level's image
uniform float tile_px;
uniform float gap_px;
uniform vec3 background;         // sRGB
uniform bool over_image;         // a picture lies under the grid
uniform sampler2D image;         // the picture: sRGB bytes stretched over the level's image
uniform float fill_alpha;        // over a picture: the opacity of a coloured tile's fill
varying vec2 v_px;

// Colours are mixed as sRGB values, as a framebuffer blends them, and written as they are:
// one pass, opaque, no conversion per pixel (a software rasteriser pays for each).
void main() {
  // Derivatives first: they are undefined inside a branch that neighbouring pixels skip.
  vec2 pixel_size = max(fwidth(v_px), vec2(1e-6));
  vec2 tile = floor(v_px/tile_px);
  vec3 result = over_image ? textureLod(image, v_px/image_px, 0.0).rgb : background;
  if (tile.x < grid.x && tile.y < grid.y) {
    vec2 lo = tile*tile_px;
    vec2 hi = min(lo + tile_px, image_px);   // the last row and column are clipped to the image
    int index = int(tile.y)*int(grid.x) + int(tile.x);
    ivec2 texel = ivec2(index % states_width, index / states_width);
    int code = int(texelFetch(states, texel, 0).r*255.0 + 0.5);
    vec3 color = texelFetch(palette, ivec2(code, 0), 0).rgb;
    if (!over_image) {
      vec2 inside = min(v_px - lo, hi - v_px) - 0.5*gap_px;
      // Coverage of this screen pixel by the tile, so edges stay smooth without multisampling.
      vec2 cover = clamp(inside/pixel_size + 0.5, 0.0, 1.0);
      result = mix(background, color, cover.x*cover.y);
    } else {
      // Screen pixels to the tile's nearest edge, and the tile's shorter side on screen.
      vec2 to_edge = min(v_px - lo, hi - v_px)/pixel_size;
      float edge = min(to_edge.x, to_edge.y);
      vec2 side = (hi - lo)/pixel_size;
      float shown = min(side.x, side.y);
      if (code == 0) {
        // Grid lines, a dark pixel then a light one inside each tile's edge: seen on dark
        // and bright pictures alike; faded out where tiles are too small to tell apart.
        float fade = clamp((shown - 4.0)/8.0, 0.0, 1.0);
        float dark = 1.0 - clamp(edge - 1.0, 0.0, 1.0);
        float light = (1.0 - clamp(edge - 2.0, 0.0, 1.0))*(1.0 - dark);
        result = mix(result, vec3(1.0), 0.3*light*fade);
        result = mix(result, vec3(0.0), 0.45*dark*fade);
      } else {
        // A translucent fill, and an opaque outline in the tile's colour with a dark line
        // inside it (read on bright pictures); small tiles get a stronger fill instead.
        float detail = clamp((shown - 4.0)/12.0, 0.0, 1.0);
        float width = clamp(shown*0.12, 1.0, 2.5);
        float outline = (1.0 - clamp(edge - width, 0.0, 1.0))*detail;
        float halo = (1.0 - clamp(edge - width - 1.0, 0.0, 1.0))*(1.0 - outline)*detail;
        result = mix(result, color, mix(min(fill_alpha + 0.3, 1.0), fill_alpha, detail));
        result = mix(result, vec3(0.0), 0.45*halo);
        result = mix(result, color, outline);
      }
    }
  }
  gl_FragColor = vec4(result, 1.0);
}
`

export class ShaderTileGrid implements TileGrid {
  readonly object = new THREE.Group()
  private readonly geometry = new THREE.PlaneGeometry(1, 1)
  private readonly material: THREE.ShaderMaterial
  private readonly mesh: THREE.Mesh
  private texture: THREE.DataTexture | null = null
  private readonly palette: THREE.DataTexture
  private palette_from: Float32Array | null = null
  private count = 0

  /** `max_texture_size`: the longest texture side the renderer allows. */
  constructor(private readonly max_texture_size: number) {
    this.palette = new THREE.DataTexture(new Float32Array(4*PALETTE_SIZE), PALETTE_SIZE, 1,
      THREE.RGBAFormat, THREE.FloatType)
    this.palette.magFilter = THREE.NearestFilter
    this.palette.minFilter = THREE.NearestFilter
    this.palette.generateMipmaps = false
    this.material = new THREE.ShaderMaterial({
      vertexShader: tile_vertex_shader,
      fragmentShader: tile_fragment_shader,
      side: THREE.DoubleSide,   // still drawn when rotated to show its back
      uniforms: {
        states: {value: null},
        states_width: {value: 1},
        palette: {value: this.palette},
        grid: {value: new THREE.Vector2()},
        image_px: {value: new THREE.Vector2()},
        tile_px: {value: 256},
        gap_px: {value: 0},
        background: {value: new THREE.Color()},
        over_image: {value: false},
        image: {value: null},
        fill_alpha: {value: 0.35},
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
    if (palette !== this.palette_from) {   // the viewer keeps its palettes: compare by identity
      this.palette_from = palette
      const colors = this.palette.image.data as Float32Array
      const srgb = new THREE.Color()
      const n = Math.min(palette.length/3, PALETTE_SIZE)
      for (let i = 0; i < n; i++) {
        srgb.setRGB(palette[3*i], palette[3*i + 1], palette[3*i + 2]).convertLinearToSRGB()
        colors.set([srgb.r, srgb.g, srgb.b], 4*i)
      }
      this.palette.needsUpdate = true
    }
    if (this.texture != null) {
      (this.texture.image.data as Uint8Array).set(states.subarray(0, this.count))
      this.texture.needsUpdate = true
    }
  }

  invalidate_colors(): void {
    this.palette_from = null
  }

  set_background(color: THREE.Color): void {
    (this.material.uniforms.background.value as THREE.Color).copy(color).convertLinearToSRGB()
  }

  set_overlay(image: THREE.Texture | null, fill_alpha: number): void {
    const u = this.material.uniforms
    u.over_image.value = image != null
    u.image.value = image
    u.fill_alpha.value = fill_alpha
  }

  dispose(): void {
    this.palette.dispose()
    this.texture?.dispose()
    this.geometry.dispose()
    this.material.dispose()
  }
}
