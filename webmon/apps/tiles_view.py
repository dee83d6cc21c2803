"""What the tiles tab shows, as plain values: :class:`TilesView`.

:func:`tiles_view` computes it from what the hub holds (the producer, its ``tiles`` state)
and what the user chose (layer, level); :class:`~webmon.apps.tiles.TilesPanel` compares it
with the view it showed last and writes only what changed to its Bokeh models.  Nothing here
touches Bokeh, so it is tested with plain values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from webmon.schema import TILE_LOADED, TILE_LOADING, TILE_SEEN
from webmon.server.text import escape
from webmon.tiles import (
    NO_TILES,
    LevelInfo,
    TilesEntry,
    TileViewerInputs,
    parse_entry,
    viewer_inputs,
)
from webmon.tiles_extension.tile_viewer import LOADED_COLOR, LOADING_COLOR, SEEN_COLOR

from .tiles_loaded import LoadedTiles

#: Value of the level selector's entry that follows the producer's level.
FOLLOW = "follow"

_NOTE_STYLE = "padding:0.4em 0.6em;border-radius:4px;"
_PICKED_STYLE = _NOTE_STYLE + "background:#fff3cd;border:1px solid #f5c542;"
_GONE_STYLE = "color:#b71c1c"
_NO_TILES = np.empty((0, 2), dtype=np.int64)


@dataclass(frozen=True)
class Producer:
    """The producer a tab shows, as far as the tiles tab cares."""

    name: str
    alive: bool
    generation: int


@dataclass(frozen=True)
class Picture:
    """What the viewer draws.  Two pictures with the same ``tiles_key`` have the same tile
    table: only their view rectangle may differ."""

    tiles_key: tuple[Any, ...]
    inputs: TileViewerInputs
    generation: int | None  # the producer whose tiles these are
    known: int = 0  # at a picked level: how many loaded tiles it shows


@dataclass(frozen=True)
class TilesView:
    """Everything the tiles tab shows."""

    layer_options: tuple[tuple[str, str], ...] = ()
    layer: str = ""
    level_options: tuple[tuple[str, str], ...] = ((FOLLOW, "follow the producer"),)
    level: str = FOLLOW
    picture: Picture | None = None  # None: nothing drawn yet
    counts: str = ""
    note: str = "<i>waiting for the producer's tiles</i>"
    #: The levels of the layer shown, for placing a click on one of them.
    levels: tuple[LevelInfo, ...] = ()


#: The tiles the ``chunk_loads`` history records as loaded, brought up to date when called
#: (only a picked level needs them).
Loads = Callable[[], LoadedTiles]


def layer_options(value: Any) -> tuple[tuple[str, str], ...]:
    """``(key, label)`` of every layer entry of a ``tiles`` state that has a ``tile_config``
    mapping, in the producer's order.  Labels carry the producer's layer names as text for a
    ``Select`` (which renders them as text, never as HTML)."""
    if not isinstance(value, dict):
        return ()
    return tuple((str(key), f"{entry.get('layer', '')} (layer {key})")
                 for key, entry in value.items()
                 if isinstance(entry, dict) and isinstance(entry.get("tile_config"), dict))


def level_label(info: LevelInfo) -> str:
    rows, cols = info.tiles
    return f"level {info.level} · {rows:,} × {cols:,} tiles"


class EntryCache:
    """The parsed entry of the layer shown, parsed again only for a new state version."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._parsed: TilesEntry | ValueError | None = None

    def get(self, key: tuple[Any, ...], raw: Any) -> TilesEntry | ValueError:
        if key != self._key:
            try:
                self._parsed = parse_entry(raw)
            except ValueError as error:
                self._parsed = error
            self._key = key
        return self._parsed


def tiles_view(previous: TilesView, producer: Producer | None, value: Any, version: int,
               layer: str, level: str, entries: EntryCache, loads: Loads) -> TilesView:
    """The view of the producer's ``tiles`` state ``value`` (at ``version``) with ``layer``
    and ``level`` chosen in the selectors, after ``previous``."""
    options = layer_options(value)
    keys = [key for key, _label in options]
    if keys and layer not in keys:
        layer = keys[0]
    generation = producer.generation if producer is not None else None
    parsed = (entries.get((generation, version, layer), value[layer])
              if keys else None)
    if parsed is None or isinstance(parsed, ValueError):
        view = dataclasses.replace(
            previous, layer_options=options, layer=layer if keys else "",
            level_options=((FOLLOW, "follow the producer"),), level=FOLLOW, levels=())
        if parsed is None:
            return _missing(view, producer)
        return dataclasses.replace(
            view, note=(f"<span style='{_GONE_STYLE}'>the producer's tiles entry is "
                        f"malformed: {escape(parsed)}</span>"))

    entry = parsed
    follow = (FOLLOW, f"follow the producer (now level {entry.level})")
    level_options = (follow, *((str(info.level), level_label(info)) for info in entry.levels))
    if level not in [key for key, _label in level_options]:
        level = FOLLOW
    picked = None if level == FOLLOW else entry.level_info(int(level))
    if picked is not None and picked.level == entry.level:
        picked = None  # the producer's own level: its live state
    loaded = loads() if picked is not None else None
    layer_id = int(layer) if layer.isdigit() else None
    if picked is not None and layer_id is not None:
        # At a picked level the tiles change only with new loads there, while the
        # producer's view (the frame) changes with every state.
        tiles_key: tuple[Any, ...] = (generation, layer, level, loaded.count(layer_id,
                                                                             picked.level))
    else:
        tiles_key = (generation, version, layer, level)
    shown = entry.at_level(picked, _NO_TILES) if picked is not None else entry
    last = previous.picture
    if last is not None and last.tiles_key == tiles_key:
        picture = dataclasses.replace(
            last, inputs=dataclasses.replace(last.inputs, view_rect=shown.view_rect()))
    elif picked is not None:
        tiles = (loaded.tiles(layer_id, picked.level, picked.tiles) if layer_id is not None
                 else _NO_TILES)
        picture = Picture(tiles_key, viewer_inputs(entry.at_level(picked, tiles)),
                          generation, known=len(tiles))
    else:
        picture = Picture(tiles_key, viewer_inputs(entry), generation)
    return TilesView(
        layer_options=options, layer=layer, level_options=level_options, level=level,
        picture=picture, counts=_counts_text(entry, picked, picture.known),
        note=_note_text(entry, picked, level, producer, loaded), levels=entry.levels)


def _missing(view: TilesView, producer: Producer | None) -> TilesView:
    """No tiles entry to show (yet).  A picture of another producer (or of one that since
    restarted) is not this one's: the viewer is emptied."""
    picture = view.picture
    if picture is not None and picture.generation != (
            producer.generation if producer is not None else None):
        picture = Picture(("nothing",), NO_TILES, None)
    if producer is None:
        note = "<i>waiting for a producer</i>"
    elif not producer.alive:
        note = f"<span style='{_GONE_STYLE}'>producer {escape(producer.name)} is gone</span>"
    else:
        note = (f"<i>{escape(producer.name)} publishes no multiscale layers (no tiles state) "
                "yet</i>")
    return dataclasses.replace(view, picture=picture, note=note, counts="")


def _swatch(color: str) -> str:
    return f"<span style='color:{color}'>■</span>"


def _counts_text(entry: TilesEntry, picked: LevelInfo | None, known: int) -> str:
    """The producer's lists (at its own level); at a picked level, also how many tiles the
    loads record there."""
    numbers = entry.counts()
    lists = (f"{_swatch(SEEN_COLOR)} in view <b>{numbers[TILE_SEEN]:,}</b> · "
             f"{_swatch(LOADING_COLOR)} loading <b>{numbers[TILE_LOADING]:,}</b> · "
             f"{_swatch(LOADED_COLOR)} loaded <b>{numbers[TILE_LOADED]:,}</b>")
    own = (f"Level {entry.level} (the producer's): {lists} "
           "<span style='color:#777'>(the producer's lists; a tile in view is usually "
           "loaded too, so the legend above counts each tile once)</span>")
    if picked is None:
        return own
    return (f"Level {picked.level} (picked): {_swatch(LOADED_COLOR)} recorded loaded "
            f"<b>{known:,}</b><br>{own}")


def _note_text(entry: TilesEntry, picked: LevelInfo | None, level: str,
               producer: Producer | None, loaded: LoadedTiles | None) -> str:
    own = entry.level
    if picked is None:
        mode = "following the producer" if level == FOLLOW else "picked"
        text = f"Showing level {own}, the producer's level now ({mode})."
    else:
        records = loaded.records if loaded is not None else 0
        text = (f"<div style='{_PICKED_STYLE}'><b>Showing level {picked.level}, not the "
                f"producer's level ({own}).</b> Blue: the tiles that the "
                f"{records:,} chunk loads this page has read record as loaded "
                f"at level {picked.level} (some may have left the producer's cache since). "
                f"What is in view and loading is known only at level {own}; the yellow frame "
                f"is the producer's view.</div>")
    if producer is not None and not producer.alive:
        text += (f"<div style='{_GONE_STYLE}'>Producer {escape(producer.name)} is gone: this "
                 "is its last picture.</div>")
    return text
