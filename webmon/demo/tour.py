"""A camera tour: smooth pans and zooms between waypoints, pausing at each, looping forever.

Between two views the camera follows van Wijk and Nuij's optimal pan-and-zoom path
("Smooth and efficient zooming and panning", IEEE InfoVis 2003): it zooms out while it
travels far and back in as it arrives, so the apparent speed stays even and a long move does
not turn into a blur of tiles.  Along the path the demo changes level as napari would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from webmon.demo.view import CANVAS_SHAPE, Pyramid, View

#: Curvature of the zoom-pan path; sqrt(2) is the value the paper found most pleasant.
RHO = math.sqrt(2.0)


class ZoomPan:
    """The optimal path from ``start`` to ``end`` for a canvas ``canvas_width`` pixels wide.

    ``length`` is the path's length in the paper's units (about one view width of travel at
    constant zoom, or a zoom by a factor of e**rho); ``at(t)`` for ``t`` in [0, 1] gives the
    view at that fraction of the length.
    """

    def __init__(self, start: View, end: View, canvas_width: float) -> None:
        self.start = start
        self.end = end
        self._w0 = canvas_width / start.zoom
        self._w1 = canvas_width / end.zoom
        self._canvas_width = canvas_width
        dy = end.center[0] - start.center[0]
        dx = end.center[1] - start.center[1]
        self._delta = (dy, dx)
        self._distance = math.hypot(dy, dx)
        w0, w1, d, rho2 = self._w0, self._w1, self._distance, RHO * RHO
        if d < 1e-9 * max(w0, w1):
            # Pure zoom: the general formulas divide by the distance.
            self._r0 = 0.0
            self.length = abs(math.log(w1 / w0)) / RHO
            return
        b0 = (w1 * w1 - w0 * w0 + rho2 * rho2 * d * d) / (2.0 * w0 * rho2 * d)
        b1 = (w1 * w1 - w0 * w0 - rho2 * rho2 * d * d) / (2.0 * w1 * rho2 * d)
        self._r0 = math.asinh(-b0)  # = log(sqrt(b0^2 + 1) - b0), without cancellation
        r1 = math.asinh(-b1)
        self.length = (r1 - self._r0) / RHO

    def at(self, t: float) -> View:
        if t <= 0.0:
            return self.start
        if t >= 1.0:
            return self.end
        s = t * self.length
        if self._distance < 1e-9 * max(self._w0, self._w1):
            width = self._w0 * (self._w1 / self._w0) ** t
            fraction = t
        else:
            r0 = self._r0
            cosh_r0 = math.cosh(r0)
            travelled = (self._w0 / (RHO * RHO)) * (
                cosh_r0 * math.tanh(RHO * s + r0) - math.sinh(r0)
            )
            fraction = travelled / self._distance
            width = self._w0 * cosh_r0 / math.cosh(RHO * s + r0)
        center = (
            self.start.center[0] + fraction * self._delta[0],
            self.start.center[1] + fraction * self._delta[1],
        )
        return View(center, self._canvas_width / width)


def _ease(t: float) -> float:
    """Smoothstep: the camera starts and stops without a jolt."""
    return t * t * (3.0 - 2.0 * t)


class Tour:
    """Moves a camera along ``waypoints`` in a loop; ``advance(dt)`` returns the new view.

    The camera rests ``dwell`` seconds at each waypoint; a move takes ``seconds_per_unit``
    seconds per unit of path length (at least ``min_move`` seconds).  ``pause()`` holds the
    view, ``jump_to(view)`` moves it there and pauses, ``resume()`` sets off smoothly from
    wherever the camera is towards the next waypoint.

    After the last waypoint the tour starts a new lap: through ``next_lap(lap)`` when given
    (so a long run keeps visiting new places, as a user would), else the same waypoints.
    """

    def __init__(
        self,
        waypoints: Sequence[View],
        *,
        canvas_shape: tuple[int, int] = CANVAS_SHAPE,
        seconds_per_unit: float = 1.1,
        min_move: float = 1.5,
        dwell: float = 2.0,
        next_lap: Callable[[int], Sequence[View]] | None = None,
    ) -> None:
        if len(waypoints) < 2:
            raise ValueError("a tour needs at least two waypoints")
        self.waypoints = list(waypoints)
        self.canvas_shape = canvas_shape
        self.seconds_per_unit = seconds_per_unit
        self.min_move = min_move
        self.dwell = dwell
        self.next_lap = next_lap
        self.lap = 0
        self.paused = False
        self._view = self.waypoints[0]
        self._target = 1
        self._move: ZoomPan | None = None
        self._move_seconds = 0.0
        self._elapsed = 0.0
        self._dwell_left = dwell

    @property
    def view(self) -> View:
        return self._view

    @property
    def target(self) -> int:
        """Index of the waypoint the camera is heading for (or resting before leaving for)."""
        return self._target

    def advance(self, dt: float) -> View:
        """Move the camera on by ``dt`` seconds of tour time (nothing while paused)."""
        if dt < 0:
            raise ValueError(f"dt must not be negative, got {dt!r}")
        while dt > 0.0 and not self.paused:
            if self._dwell_left > 0.0:
                used = min(dt, self._dwell_left)
                self._dwell_left -= used
                dt -= used
                continue
            if self._move is None:
                self._move = ZoomPan(self._view, self.waypoints[self._target],
                                     self.canvas_shape[1])
                self._move_seconds = max(self.min_move,
                                         self._move.length * self.seconds_per_unit)
                self._elapsed = 0.0
            used = min(dt, self._move_seconds - self._elapsed)
            self._elapsed += used
            dt -= used
            if self._elapsed >= self._move_seconds:
                self._view = self.waypoints[self._target]
                self._target += 1
                if self._target == len(self.waypoints):
                    self._start_lap()
                self._move = None
                self._dwell_left = self.dwell
            else:
                self._view = self._move.at(_ease(self._elapsed / self._move_seconds))
        return self._view

    def _start_lap(self) -> None:
        self.lap += 1
        self._target = 0
        if self.next_lap is not None:
            waypoints = list(self.next_lap(self.lap))
            if len(waypoints) < 2:
                raise ValueError("next_lap must return at least two waypoints")
            self.waypoints = waypoints

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        if self.paused:
            self.paused = False
            # Set off afresh from here: continuing the old move would jump back onto it.
            self._move = None
            self._dwell_left = 0.0

    def jump_to(self, view: View) -> None:
        """Show ``view`` now and pause there (a user took the camera)."""
        self.pause()
        self._view = view
        self._move = None


def zoom_for_level(level: int, fraction: float = 0.75) -> float:
    """A zoom at which napari's rule picks ``level`` for a view inside the image.

    The rule picks the coarsest ``k`` with ``2**k < 1 / zoom``; ``fraction`` in (0.5, 1)
    puts ``1 / zoom`` strictly between ``2**level`` and ``2**(level + 1)``.
    """
    if not 0.5 < fraction < 1.0:
        raise ValueError(f"fraction must be within (0.5, 1), got {fraction!r}")
    return fraction / 2**level


def overview(image: Pyramid, canvas_shape: tuple[int, int] = CANVAS_SHAPE) -> View:
    """The whole image, centred, with a small margin."""
    height, width = image.base_shape
    zoom = 0.92 * min(canvas_shape[0] / height, canvas_shape[1] / width)
    return View((height / 2.0, width / 2.0), zoom)


#: Levels the default tour visits in turn (after the overview): deep dives, middle levels and
#: wide views, so every kind of level change happens within a couple of minutes.
TOUR_LEVELS = (0, 1, 3, 0, 2, 5, 1, 4, 0, 2)


def default_waypoints(
    image: Pyramid,
    *,
    seed: int = 7,
    canvas_shape: tuple[int, int] = CANVAS_SHAPE,
    levels: Sequence[int] = TOUR_LEVELS,
    near: Sequence[tuple[float, float]] = (),
) -> list[View]:
    """The overview, then one waypoint per entry of ``levels``.

    Centres are seeded: half of them close to the points in ``near`` (the image's ring
    sources, where there is most to see), the rest anywhere, kept far enough from the edges
    that the view stays on the image.
    """
    rng = np.random.default_rng(seed)
    height, width = image.base_shape
    nlevels = len(image.level_shapes)
    waypoints = [overview(image, canvas_shape)]
    for i, wanted in enumerate(levels):
        level = min(int(wanted), nlevels - 1)
        zoom = zoom_for_level(level, float(rng.uniform(0.55, 0.95)))
        half_h = min(canvas_shape[0] / zoom / 2.0, height / 2.0)
        half_w = min(canvas_shape[1] / zoom / 2.0, width / 2.0)
        if near and i % 2 == 0:
            cy, cx = near[int(rng.integers(len(near)))]
            cy += float(rng.normal(0.0, 2.0 * half_h))
            cx += float(rng.normal(0.0, 2.0 * half_w))
        else:
            cy = float(rng.uniform(0.0, height))
            cx = float(rng.uniform(0.0, width))
        center = (min(max(cy, half_h), height - half_h), min(max(cx, half_w), width - half_w))
        waypoints.append(View(center, zoom))
    return waypoints
