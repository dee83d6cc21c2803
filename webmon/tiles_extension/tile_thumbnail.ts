// The picture under the tile grid: a layer's thumbnail (docs/schema.md, Arrays), an RGB image
// stretched over the level's image, drawn as one textured quad below the grid.
import * as THREE from "three"

/** The bytes of an `h` x `w` RGB image, row after row, the top row first. */
export type RGBImage = {rgb: Uint8Array, height: number, width: number}

/** `bytes` as an RGB image of `shape` [h, w], or null when it is not one (no bytes, a shape
 *  of no pixels, or a length that does not match: the viewer then draws no picture). */
export function rgb_image(bytes: ArrayBuffer | null, shape: [number, number]): RGBImage | null {
  const [height, width] = shape
  if (bytes == null || height <= 0 || width <= 0 || bytes.byteLength != 3*height*width) {
    return null
  }
  return {rgb: new Uint8Array(bytes), height, width}
}

export class ThumbnailLayer {
  readonly object: THREE.Mesh
  private readonly geometry = new THREE.PlaneGeometry(1, 1)
  // Both sides: the content group is flipped, and the view may be rotated to show its back.
  private readonly material = new THREE.MeshBasicMaterial({color: 0xffffff, side: THREE.DoubleSide})
  private texture: THREE.DataTexture | null = null

  constructor() {
    this.object = new THREE.Mesh(this.geometry, this.material)
    this.object.frustumCulled = false
    this.object.visible = false
    this.object.renderOrder = -1   // below the grid, which is drawn over it with blending
    this.object.position.z = -0.01
  }

  /** Whether a picture is drawn. */
  get shown(): boolean {
    return this.object.visible
  }

  /** Show `image` (null: none). */
  set_image(image: RGBImage | null): void {
    if (image == null) {
      this.object.visible = false
      return
    }
    const {rgb, height, width} = image
    let texture = this.texture
    if (texture == null || texture.image.width != width || texture.image.height != height) {
      texture?.dispose()
      // three.js has no RGB texture format: four bytes a pixel.
      texture = new THREE.DataTexture(new Uint8Array(4*width*height), width, height,
        THREE.RGBAFormat, THREE.UnsignedByteType)
      texture.colorSpace = THREE.SRGBColorSpace   // the bytes are sRGB, as napari shows them
      texture.magFilter = THREE.LinearFilter
      texture.minFilter = THREE.LinearFilter
      texture.generateMipmaps = false
      this.texture = texture
      this.material.map = texture
      this.material.needsUpdate = true
    }
    const rgba = texture.image.data as Uint8Array
    const n = width*height
    for (let i = 0, j = 0; i < n; i++, j += 3) {
      const o = 4*i
      rgba[o] = rgb[j]
      rgba[o + 1] = rgb[j + 1]
      rgba[o + 2] = rgb[j + 2]
      rgba[o + 3] = 255
    }
    texture.needsUpdate = true
    this.object.visible = true
  }

  /** Stretch the picture over an image `width` x `height` world units from the origin (the
   *  content group is flipped, so the texture's first row lies at the top). */
  set_extent(width: number, height: number): void {
    this.object.position.set(width/2, height/2, -0.01)
    this.object.scale.set(width, height, 1)
  }

  dispose(): void {
    this.texture?.dispose()
    this.geometry.dispose()
    this.material.dispose()
  }
}
