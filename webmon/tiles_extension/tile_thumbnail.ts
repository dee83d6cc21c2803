// The picture under the tile grid: a layer's thumbnail (docs/schema.md, Arrays), an RGB image
// that the grid's shader stretches over the level's image and draws its tiles over.
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

/** The picture's texture, kept and refilled while its size stays. */
export class ThumbnailTexture {
  private texture: THREE.DataTexture | null = null

  /** The texture of `image`, or null for none. */
  set_image(image: RGBImage | null): THREE.DataTexture | null {
    if (image == null) {
      return null
    }
    const {rgb, height, width} = image
    let texture = this.texture
    if (texture == null || texture.image.width != width || texture.image.height != height) {
      texture?.dispose()
      // three.js has no RGB texture format: four bytes a pixel.  The bytes are sRGB and the
      // grid mixes sRGB values, so they are sampled as they are (no colour space).
      texture = new THREE.DataTexture(new Uint8Array(4*width*height), width, height,
        THREE.RGBAFormat, THREE.UnsignedByteType)
      texture.magFilter = THREE.NearestFilter
      texture.minFilter = THREE.NearestFilter
      texture.generateMipmaps = false
      this.texture = texture
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
    return texture
  }

  dispose(): void {
    this.texture?.dispose()
    this.texture = null
  }
}
