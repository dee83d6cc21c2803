// The three.js side of the tile viewer: renderer, orthographic camera, mouse controls, and the
// objects drawn (tile grid, view rectangle, selected tile, axes).  It knows nothing of Bokeh.
//
// World coordinates: one image (the selected level) spans [0, 1] along its longer side, so
// every level of a multiscale image has the same extent and a level change keeps the camera
// where it is.  The drawn objects live in a group flipped along Y, so pixel rows grow
// downwards on screen as in napari.
import * as THREE from "three"
import {OrbitControls} from "three/examples/jsm/controls/OrbitControls.js"
import type {GridLayout, TileGrid, TileGridKind} from "./tile_grids"
import {make_grid} from "./tile_grids"
import type {RGBImage} from "./tile_thumbnail"
import {ThumbnailTexture} from "./tile_thumbnail"

export type RGB = [r: number, g: number, b: number]   // sRGB, 0..255

/** How far the grid may be tilted away from facing the camera, about each axis: beyond
 * about this, a flat grid seen edge-on stops being readable. */
export const MAX_TILT = THREE.MathUtils.degToRad(45)

/** A rectangle outline whose lines stay `width_px` screen pixels wide at any zoom. */
class Frame {
  readonly object = new THREE.Group()
  private readonly material: THREE.MeshBasicMaterial
  private readonly bars: THREE.Mesh[] = []
  private rect: [x0: number, y0: number, x1: number, y1: number] | null = null

  constructor(geometry: THREE.PlaneGeometry, readonly width_px: number, z: number) {
    this.material = new THREE.MeshBasicMaterial({transparent: true, depthTest: false})
    for (let i = 0; i < 4; i++) {
      const bar = new THREE.Mesh(geometry, this.material)
      bar.renderOrder = 10
      this.bars.push(bar)
      this.object.add(bar)
    }
    this.object.position.z = z
    this.object.visible = false
  }

  set_style(color: RGB, opacity: number): void {
    this.material.color.setRGB(color[0]/255, color[1]/255, color[2]/255, THREE.SRGBColorSpace)
    this.material.opacity = opacity
  }

  /** Corners in world units of the grid group, or null to hide the frame. */
  set_rect(rect: [number, number, number, number] | null): void {
    this.rect = rect
    this.object.visible = rect != null
  }

  /** Lays the bars out for the current zoom: `world_per_px` world units per screen pixel. */
  update(world_per_px: number): void {
    if (this.rect == null) {
      return
    }
    const [x0, y0, x1, y1] = this.rect
    const t = this.width_px*world_per_px
    const w = Math.abs(x1 - x0)
    const h = Math.abs(y1 - y0)
    const cx = (x0 + x1)/2
    const cy = (y0 + y1)/2
    // Bars straddle the rectangle's edges: top, bottom, left, right.
    const layout: [number, number, number, number][] = [
      [cx, y0, w + t, t], [cx, y1, w + t, t], [x0, cy, t, h + t], [x1, cy, t, h + t],
    ]
    layout.forEach(([x, y, sx, sy], i) => {
      this.bars[i].position.set(x, y, 0)
      this.bars[i].scale.set(sx, sy, 1)
    })
  }

  dispose(): void {
    this.material.dispose()
  }
}

/** The image's size in world units; the longer side is 1. */
type Extent = {width: number, height: number}

export class TileScene {
  readonly renderer: THREE.WebGLRenderer
  readonly camera: THREE.OrthographicCamera
  readonly controls: OrbitControls
  private readonly scene = new THREE.Scene()
  private readonly content = new THREE.Group()
  private readonly unit_square = new THREE.PlaneGeometry(1, 1)
  private grid: TileGrid
  private readonly background = new THREE.Color()
  private layout: GridLayout | null = null
  private extent: Extent = {width: 1, height: 1}
  private readonly view_frame = new Frame(this.unit_square, 3, 0.02)
  private readonly selection_frame = new Frame(this.unit_square, 2, 0.03)
  private readonly flash_frame = new Frame(this.unit_square, 5, 0.04)
  /** The image was framed once: the first layout centres it whatever its shape. */
  private framed = false
  private readonly axes: THREE.LineSegments
  private readonly axes_material = new THREE.LineBasicMaterial({vertexColors: true})
  private readonly thumbnail = new ThumbnailTexture()
  private image: THREE.Texture | null = null
  private fill_alpha = 0.35
  private width_px = 1
  private height_px = 1

  /** Throws when the browser cannot give a WebGL context. */
  constructor(grid_kind: TileGridKind, on_change: () => void) {
    // No multisampling: the shader grid smooths its own edges, and software WebGL would spend
    // as much again on a multisampled frame.
    this.renderer = new THREE.WebGLRenderer({antialias: false})
    this.renderer.setPixelRatio(window.devicePixelRatio)
    this.camera = new THREE.OrthographicCamera(-1, 1, 1, -1, 0.01, 100)
    this.grid = make_grid(grid_kind, this.renderer.capabilities.maxTextureSize)
    this.content.scale.y = -1
    this.content.add(this.grid.object)
    this.axes = this.make_axes()
    this.content.add(this.axes, this.view_frame.object, this.selection_frame.object,
      this.flash_frame.object)
    this.selection_frame.set_style([255, 255, 255], 1.0)
    this.scene.add(this.content)

    const controls = new OrbitControls(this.camera, this.renderer.domElement)
    controls.enableDamping = false   // damping needs an animation loop; we draw on demand
    controls.screenSpacePanning = true
    controls.zoomToCursor = true
    controls.mouseButtons = {LEFT: THREE.MOUSE.PAN, MIDDLE: THREE.MOUSE.DOLLY, RIGHT: THREE.MOUSE.ROTATE}
    controls.touches = {ONE: THREE.TOUCH.PAN, TWO: THREE.TOUCH.DOLLY_ROTATE}
    // Rotating tilts the grid, up to MAX_TILT about either axis (the camera faces it at
    // azimuth 0, polar angle 90 degrees from its up axis): never edge-on.
    controls.minAzimuthAngle = -MAX_TILT
    controls.maxAzimuthAngle = MAX_TILT
    controls.minPolarAngle = Math.PI/2 - MAX_TILT
    controls.maxPolarAngle = Math.PI/2 + MAX_TILT
    controls.addEventListener("change", on_change)
    this.controls = controls
    this.reset_view()
  }

  get canvas(): HTMLCanvasElement {
    return this.renderer.domElement
  }

  private make_axes(): THREE.LineSegments {
    const geometry = new THREE.BufferGeometry()
    geometry.setAttribute("position", new THREE.Float32BufferAttribute(new Float32Array(12), 3))
    const red = new THREE.Color(0xff0000)
    const green = new THREE.Color(0x00c000)
    geometry.setAttribute("color", new THREE.Float32BufferAttribute([
      red.r, red.g, red.b, red.r, red.g, red.b, green.r, green.g, green.b, green.r, green.g, green.b,
    ], 3))
    const axes = new THREE.LineSegments(geometry, this.axes_material)
    axes.position.z = 0.01
    axes.renderOrder = 5
    return axes
  }

  private update_axes(): void {
    // Both axes start at the image's origin (its top-left pixel) and end at its edges.
    const {width, height} = this.extent
    const position = this.axes.geometry.getAttribute("position") as THREE.BufferAttribute
    position.setXYZ(0, 0, 0, 0)
    position.setXYZ(1, width, 0, 0)
    position.setXYZ(2, 0, 0, 0)
    position.setXYZ(3, 0, height, 0)
    position.needsUpdate = true
    this.axes.geometry.computeBoundingSphere()
  }

  /** Draw with the grid `kind` from now on (the viewer then lays it out and colours it). */
  set_grid_kind(kind: TileGridKind): void {
    this.content.remove(this.grid.object)
    this.grid.dispose()
    this.grid = make_grid(kind, this.renderer.capabilities.maxTextureSize)
    this.grid.set_background(this.background)
    this.grid.set_overlay?.(this.image, this.fill_alpha)
    this.content.add(this.grid.object)
    if (this.layout != null) {
      this.set_layout(this.layout)
    }
  }

  /** Linear-RGB floats, three per colour, as the grids expect them. */
  static linear_palette(colors: RGB[]): Float32Array {
    const palette = new Float32Array(3*colors.length)
    const c = new THREE.Color()
    colors.forEach(([r, g, b], i) => {
      c.setRGB(r/255, g/255, b/255, THREE.SRGBColorSpace)
      palette.set([c.r, c.g, c.b], 3*i)
    })
    return palette
  }

  /** World units per pixel of a level whose image is `h` x `w` pixels. */
  static unit_for(h: number, w: number): number {
    const longest = Math.max(h, w)
    return longest > 0 ? 1/longest : 1
  }

  set_layout(layout: GridLayout): void {
    this.layout = layout
    this.grid.set_layout(layout)
    const h = layout.image_h > 0 ? layout.image_h : layout.rows*layout.tile_size
    const w = layout.image_w > 0 ? layout.image_w : layout.cols*layout.tile_size
    const extent = {width: w*layout.unit, height: h*layout.unit}
    const moved = Math.abs(extent.width - this.extent.width) > 0.02 ||
                  Math.abs(extent.height - this.extent.height) > 0.02
    this.extent = extent
    this.update_axes()
    // A level change keeps the extent, and the user's camera; the first image, and a new
    // image shape, are framed and centred.
    if (moved || !this.framed) {
      this.framed = true
      this.reset_view()
    }
  }

  set_states(states: Uint8Array, palette: Float32Array): void {
    this.grid.set_states(states, palette)
  }

  invalidate_colors(): void {
    this.grid.invalidate_colors()
  }

  /** The picture under the tiles (null: none); over it, coloured tiles are translucent
   *  fills with outlines, and idle tiles grid lines. */
  set_image(image: RGBImage | null): void {
    this.image = this.thumbnail.set_image(image)
    this.grid.set_overlay?.(this.image, this.fill_alpha)
  }

  /** The opacity of coloured tiles' fills over a picture. */
  set_fill_alpha(fill_alpha: number): void {
    this.fill_alpha = fill_alpha
    this.grid.set_overlay?.(this.image, fill_alpha)
  }

  set_background(color: RGB): void {
    this.background.setRGB(color[0]/255, color[1]/255, color[2]/255, THREE.SRGBColorSpace)
    this.renderer.setClearColor(this.background, 1)
    this.grid.set_background(this.background)
  }

  /** `rect` = [r0, c0, r1, c1] in pixels of the current level. */
  set_view_rect(rect: [number, number, number, number] | null, color: RGB, opacity: number): void {
    this.view_frame.set_style(color, opacity)
    this.view_frame.set_rect(this.pixels_to_world(rect))
  }

  set_selection(rect: [number, number, number, number] | null): void {
    this.selection_frame.set_rect(this.pixels_to_world(rect))
  }

  /** The flashing outline of a tile (`rect` in pixels of the current level), or none. */
  set_flash(rect: [number, number, number, number] | null, opacity: number): void {
    this.flash_frame.set_style([255, 255, 255], opacity)
    this.flash_frame.set_rect(this.pixels_to_world(rect))
  }

  /** Looks at `rect` (pixels of the current level) with the camera's orientation kept,
   * zoomed so that the rectangle spans 1/`context` of the view: the rectangle with
   * `context` times its size around it. */
  frame(rect: [number, number, number, number], context: number): void {
    const world = this.pixels_to_world(rect)
    if (world == null) {
      return
    }
    const [x0, y0, x1, y1] = world
    const width = Math.max(Math.abs(x1 - x0), 1e-9)*context
    const height = Math.max(Math.abs(y1 - y0), 1e-9)*context
    const camera = this.camera
    // The content is flipped along Y: its point (x, y) is at (x, -y) in the world.
    const target = new THREE.Vector3((x0 + x1)/2, -(y0 + y1)/2, 0)
    const offset = camera.position.clone().sub(this.controls.target)
    this.controls.target.copy(target)
    camera.position.copy(target).add(offset)
    camera.zoom = Math.min((camera.top - camera.bottom)/height, (camera.right - camera.left)/width)
    camera.updateProjectionMatrix()
    this.controls.update()
  }

  /** The camera's target and zoom: what tests read to see where the camera looks. */
  look(): {x: number, y: number, zoom: number} {
    const target = this.controls.target
    return {x: target.x, y: -target.y, zoom: this.camera.zoom}
  }

  private pixels_to_world(rect: [number, number, number, number] | null): [number, number, number, number] | null {
    if (rect == null || this.layout == null) {
      return null
    }
    const u = this.layout.unit
    const [r0, c0, r1, c1] = rect
    return [c0*u, r0*u, c1*u, r1*u]
  }

  set_size(width_px: number, height_px: number): void {
    this.width_px = Math.max(width_px, 1)
    this.height_px = Math.max(height_px, 1)
    this.renderer.setSize(this.width_px, this.height_px)
    this.update_frustum()
  }

  /** The frustum that shows the whole image with a 5% margin at zoom 1. */
  private update_frustum(): void {
    const aspect = this.width_px/this.height_px
    const half_h = Math.max(this.extent.height, this.extent.width/aspect)/2*1.1
    const camera = this.camera
    camera.top = half_h
    camera.bottom = -half_h
    camera.left = -half_h*aspect
    camera.right = half_h*aspect
    camera.updateProjectionMatrix()
  }

  reset_view(): void {
    const cx = this.extent.width/2
    const cy = -this.extent.height/2   // the content is flipped: the image lies below y = 0
    this.camera.position.set(cx, cy, 10)
    this.camera.up.set(0, 1, 0)
    this.camera.zoom = 1
    this.controls.target.set(cx, cy, 0)
    this.update_frustum()
    this.controls.update()
  }

  /** The tile [row, col] under a point of the canvas (CSS pixels from its top-left), or null. */
  pick(x_px: number, y_px: number): [number, number] | null {
    const layout = this.layout
    if (layout == null) {
      return null
    }
    const ndc = new THREE.Vector2(2*x_px/this.width_px - 1, 1 - 2*y_px/this.height_px)
    const raycaster = new THREE.Raycaster()
    raycaster.setFromCamera(ndc, this.camera)
    const hit = raycaster.ray.intersectPlane(new THREE.Plane(new THREE.Vector3(0, 0, 1), 0), new THREE.Vector3())
    if (hit == null) {
      return null
    }
    const px = hit.x/layout.unit
    const py = -hit.y/layout.unit
    const image_h = layout.image_h > 0 ? layout.image_h : layout.rows*layout.tile_size
    const image_w = layout.image_w > 0 ? layout.image_w : layout.cols*layout.tile_size
    if (px < 0 || py < 0 || px >= image_w || py >= image_h) {
      return null
    }
    const row = Math.floor(py/layout.tile_size)
    const col = Math.floor(px/layout.tile_size)
    return row < layout.rows && col < layout.cols ? [row, col] : null
  }

  render(): void {
    const world_per_px = (this.camera.top - this.camera.bottom)/this.camera.zoom/this.height_px
    this.view_frame.update(world_per_px)
    this.selection_frame.update(world_per_px)
    this.flash_frame.update(world_per_px)
    this.renderer.render(this.scene, this.camera)
  }

  dispose(): void {
    this.controls.dispose()
    this.grid.dispose()
    this.thumbnail.dispose()
    this.view_frame.dispose()
    this.selection_frame.dispose()
    this.flash_frame.dispose()
    this.axes.geometry.dispose()
    this.axes_material.dispose()
    this.unit_square.dispose()
    this.renderer.dispose()
  }
}
