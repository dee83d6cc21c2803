"""A large procedural multiscale image whose tiles are computed on demand.

Nothing is stored: every pixel is a function of its position in level-0 space, so a tile of
any level can be computed alone, in any order, from any thread.  The function is a sum of
bands, each of a known wavelength in level-0 pixels:

* fractal value noise (ten octaves, each interpolated separably from a small hashed lattice);
* radial interference rings around a few seeded sources, their centres wobbling through a
  noise-driven domain warp, each ring system fading out with a Gaussian envelope.

A pixel of level ``k`` covers a ``2**k`` square of level-0 pixels.  Instead of averaging
``4**k`` samples we evaluate the function once at the pixel's centre and attenuate each band
by the response of a ``2**k`` box filter at its wavelength, dropping bands the pixel cannot
resolve.  Level ``k + 1`` is therefore close to the 2x2 mean of level ``k`` (the tests check
it), as a pyramid built by downsampling would be.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from webmon.tiles import DEFAULT_TILE_SIZE, level_shape, shape_in_tiles, tile_bounds

TILE_SIZE = DEFAULT_TILE_SIZE
BASE_SHAPE = (65536, 65536)
#: Pixel = 128 + CONTRAST * value, clipped to uint8.  The noise's standard deviation is about
#: 0.15 (measured over many tiles), so one deviation spans some 45 grey levels.
CONTRAST = 300.0

# splitmix64 finaliser constants: a cheap, well-mixed integer hash, identical on every platform.
_MIX1 = np.uint64(0xFF51AFD7ED558CCD)
_MIX2 = np.uint64(0xC4CEB9FE1A85EC53)
_PRIME_Y = np.uint64(0x9E3779B97F4A7C15)
_PRIME_X = np.uint64(0xD1B54A32D192ED03)
_PRIME_SEED = np.uint64(0x8CB92BA72F3D8DD7)
_SHIFT33 = np.uint64(33)
_SHIFT11 = np.uint64(11)


def _lattice(iy: np.ndarray, ix: np.ndarray, seed: int) -> np.ndarray:
    """Pseudo-random values in [-1, 1) at integer lattice points ``iy[:, None], ix[None, :]``."""
    with np.errstate(over="ignore"):
        h = (
            iy.astype(np.uint64)[:, None] * _PRIME_Y
            + ix.astype(np.uint64)[None, :] * _PRIME_X
            + np.uint64(seed) * _PRIME_SEED
        )
        h ^= h >> _SHIFT33
        h *= _MIX1
        h ^= h >> _SHIFT33
        h *= _MIX2
        h ^= h >> _SHIFT33
    return (h >> _SHIFT11).astype(np.float64) * (2.0 / 2.0**53) - 1.0


def _lattice_steps(coords: np.ndarray, wavelength: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Where ``coords`` fall on a lattice of spacing ``wavelength``.

    Returns ``(index, blend, first)``: sample ``i`` lies between lattice points
    ``first + index[i]`` and the next one, weighted ``1 - blend[i]`` and ``blend[i]``
    (smoothstep, so the noise shows no lattice creases).
    """
    u = coords / wavelength
    cell = np.floor(u)
    frac = u - cell
    first = int(cell[0])
    return (cell - first).astype(np.intp), frac * frac * (3.0 - 2.0 * frac), first


def box_response(pixel: float, wavelength: float) -> float:
    """Amplitude left of a band of ``wavelength`` after a box filter ``pixel`` wide, per axis.

    ``sinc(pixel / wavelength)``, cut to zero once a pixel spans a whole period: the band is
    then averaged away (and evaluating it at one point would only alias).
    """
    ratio = pixel / wavelength
    if ratio >= 1.0:
        return 0.0
    return float(np.sinc(ratio))


@dataclass(frozen=True)
class RingSource:
    """One system of interference rings, in level-0 pixels."""

    center: tuple[float, float]
    wavelength: float
    radius: float  # Gaussian envelope: amplitude exp(-(r / radius) ** 2)
    amplitude: float
    phase: float


class ProceduralImage:
    """A 2-D multiscale image of ``uint8`` pixels, computed tile by tile.

    Level ``k`` has shape ``ceil(base_shape / 2**k)``; levels continue until one tile holds
    the whole level.  ``tile(level, row, col)`` returns the tile's pixels, clipped at the
    level's bottom and right edges.
    """

    dtype = np.dtype(np.uint8)

    def __init__(
        self,
        base_shape: tuple[int, int] = BASE_SHAPE,
        tile_size: int = TILE_SIZE,
        *,
        seed: int = 2020,
        octaves: int = 10,
        finest_wavelength: float = 16.0,
        roughness: float = 0.8,
        ring_sources: int = 16,
    ) -> None:
        height, width = (int(n) for n in base_shape)
        if height < 1 or width < 1:
            raise ValueError(f"base_shape must be positive, got {base_shape!r}")
        if tile_size < 1:
            raise ValueError(f"tile_size must be positive, got {tile_size!r}")
        self.base_shape = (height, width)
        self.tile_size = int(tile_size)
        self.seed = int(seed)
        # Octave j has wavelength finest * 2**j and amplitude proportional to
        # roughness**(octaves - 1 - j): roughness near 1 keeps fine detail visible when
        # zoomed in, smaller values make a smoother landscape.
        self._octaves = [
            (finest_wavelength * 2.0**j, roughness ** (octaves - 1 - j)) for j in range(octaves)
        ]
        self._noise_scale = 1.0 / sum(amp for _, amp in self._octaves)
        self._warp_wavelength = finest_wavelength * 2.0 ** (octaves - 3)
        self._warp_amount = self._warp_wavelength * 0.35
        self.sources = self._make_sources(ring_sources)

    # -- geometry ---------------------------------------------------------------------------

    @cached_property
    def level_shapes(self) -> list[tuple[int, int]]:
        """Shape of every level in pixels, level 0 first, down to a single tile."""
        shapes = []
        level = 0
        while True:
            shape = level_shape(self.base_shape, level)
            shapes.append(shape)
            if shape[0] <= self.tile_size and shape[1] <= self.tile_size:
                return shapes
            level += 1

    @property
    def nlevels(self) -> int:
        return len(self.level_shapes)

    def downsample(self, level: int) -> int:
        """Level-0 pixels per pixel of ``level``, along each axis."""
        return 2**level

    def shape_in_tiles(self, level: int) -> tuple[int, int]:
        return shape_in_tiles(self.level_shapes[self._check_level(level)], self.tile_size)

    def tile_bounds(self, level: int, row: int, col: int) -> tuple[int, int, int, int]:
        """``(y0, y1, x0, x1)`` of a tile in pixels of its level (end exclusive, clipped)."""
        rows, cols = self.shape_in_tiles(level)
        if not (0 <= row < rows and 0 <= col < cols):
            raise IndexError(
                f"tile ({row}, {col}) is outside level {level}, which has {rows} x {cols} tiles"
            )
        return tile_bounds(row, col, self.tile_size, self.level_shapes[level])

    def tile_shape(self, level: int, row: int, col: int) -> tuple[int, int]:
        y0, y1, x0, x1 = self.tile_bounds(level, row, col)
        return y1 - y0, x1 - x0

    def _check_level(self, level: int) -> int:
        if not 0 <= level < self.nlevels:
            raise IndexError(f"level {level} is outside 0..{self.nlevels - 1}")
        return level

    # -- pixels -----------------------------------------------------------------------------

    def tile(self, level: int, row: int, col: int) -> np.ndarray:
        """The tile's pixels as a new ``uint8`` array, computed now."""
        y0, y1, x0, x1 = self.tile_bounds(level, row, col)
        values = self.values(level, y0, y1, x0, x1)
        values *= np.float32(CONTRAST)
        values += np.float32(128.0)
        np.clip(values, 0.0, 255.0, out=values)
        return values.astype(self.dtype)

    def values(self, level: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """The underlying function (float32, roughly within [-1, 1]) over a region.

        The region is given in pixels of ``level``, end exclusive; it may extend past the
        level's shape (the function is defined everywhere), which the tests use to compare
        levels.
        """
        pixel = float(self.downsample(self._check_level(level)))
        # Coordinates stay float64 (level-0 positions reach 65,536 and beyond); the per-pixel
        # arithmetic runs in float32, about twice as fast, its error far below a uint8 step.
        ys = (np.arange(y0, y1, dtype=np.float64) + 0.5) * pixel
        xs = (np.arange(x0, x1, dtype=np.float64) + 0.5) * pixel
        out = np.zeros((len(ys), len(xs)), dtype=np.float32)
        if out.size == 0:
            return out
        for octave, (wavelength, amplitude) in enumerate(self._octaves):
            gain = amplitude * self._noise_scale * box_response(pixel, wavelength) ** 2
            if gain > 0.0:
                self._add_value_noise(out, ys, xs, wavelength, self.seed * 64 + octave, gain)
        self._add_rings(out, ys, xs, pixel)
        return out

    def _add_value_noise(
        self,
        out: np.ndarray,
        ys: np.ndarray,
        xs: np.ndarray,
        wavelength: float,
        seed: int,
        gain: float,
    ) -> None:
        """``out += gain * noise``, the noise interpolated separably from its lattice.

        Gathers and lerps rather than two matrix products: numpy's BLAS would spread such
        small products over every core and spin there, for a fraction of the speed.
        """
        index_y, blend_y, first_y = _lattice_steps(ys, wavelength)
        index_x, blend_x, first_x = _lattice_steps(xs, wavelength)
        lattice = gain * _lattice(
            np.arange(first_y, first_y + index_y[-1] + 2),
            np.arange(first_x, first_x + index_x[-1] + 2),
            seed,
        )
        left = np.take(lattice, index_x, axis=1)
        across = left + (np.take(lattice, index_x + 1, axis=1) - left) * blend_x
        # C order matters: gathering rows of a Fortran-ordered array is ten times slower.
        across = np.ascontiguousarray(across, dtype=np.float32)
        rows = np.diff(across, axis=0)[index_y]
        rows *= blend_y.astype(np.float32)[:, None]
        rows += across[index_y]
        out += rows

    def _add_rings(self, out: np.ndarray, ys: np.ndarray, xs: np.ndarray, pixel: float) -> None:
        warp_gain = self._warp_amount * box_response(pixel, self._warp_wavelength) ** 2
        warp_y = warp_x = None
        for source in self.sources:
            gain = source.amplitude * box_response(pixel, source.wavelength) ** 2
            if gain <= 0.0 or not self._within_reach(source, ys, xs):
                continue
            if warp_y is None:
                # Computed once per region, and only when some ring system reaches it.
                warp_y = np.zeros_like(out)
                warp_x = np.zeros_like(out)
                self._add_value_noise(
                    warp_y, ys, xs, self._warp_wavelength, self.seed * 64 + 61, warp_gain
                )
                self._add_value_noise(
                    warp_x, ys, xs, self._warp_wavelength, self.seed * 64 + 62, warp_gain
                )
            # In place, to keep temporaries (and their page faults) to two per source.
            dy = warp_y + (ys - source.center[0]).astype(np.float32)[:, None]
            dx = warp_x + (xs - source.center[1]).astype(np.float32)[None, :]
            dy *= dy
            dx *= dx
            dy += dx
            radius = np.sqrt(dy, out=dy)
            waves = np.multiply(radius, np.float32(2.0 * math.pi / source.wavelength), out=dx)
            waves += np.float32(source.phase)
            np.cos(waves, out=waves)
            envelope = np.multiply(radius, np.float32(1.0 / source.radius), out=radius)
            np.square(envelope, out=envelope)
            np.negative(envelope, out=envelope)
            np.exp(envelope, out=envelope)
            envelope *= waves
            envelope *= np.float32(gain)
            out += envelope

    def _within_reach(self, source: RingSource, ys: np.ndarray, xs: np.ndarray) -> bool:
        # Beyond 3 envelope radii (plus the warp) a source adds less than exp(-9) ~ 1e-4.
        reach = 3.0 * source.radius + 2.0 * self._warp_amount
        cy, cx = source.center
        gap_y = max(ys[0] - cy, cy - ys[-1], 0.0)
        gap_x = max(xs[0] - cx, cx - xs[-1], 0.0)
        return gap_y * gap_y + gap_x * gap_x < reach * reach

    def _make_sources(self, count: int) -> list[RingSource]:
        rng = np.random.default_rng(self.seed)
        height, width = self.base_shape
        scale = max(height, width)
        sources = []
        for _ in range(count):
            sources.append(
                RingSource(
                    center=(float(rng.uniform(0, height)), float(rng.uniform(0, width))),
                    # Wavelengths spread over two decades, so some rings are visible at
                    # every zoom from level 0 to the coarse overview levels.
                    wavelength=float(scale * 10.0 ** rng.uniform(-3.3, -1.8)),
                    radius=float(scale * rng.uniform(0.03, 0.07)),
                    amplitude=float(rng.uniform(0.12, 0.25)),
                    phase=float(rng.uniform(0, 2 * math.pi)),
                )
            )
        return sources
