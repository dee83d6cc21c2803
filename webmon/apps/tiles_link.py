"""A link to one tile: ``tiles?producer=…&layer=…&level=…&tile=row,col``.

The loader tab's chunk charts and the timeline's chunk loads link here; the tiles tab then
shows that layer at that level and selects and flashes the tile.  The address is whatever
the browser was given: :func:`parse_link` checks every part, and :func:`resolve_link`
checks the tile against the producer's layers once its ``tiles`` state is known.  Plain
values, no Bokeh.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from webmon.tiles import MAX_EXTENT, MAX_LEVEL, parse_entry

#: Longest layer key or name taken from an address.
MAX_LAYER_TEXT = 200
_WHOLE = re.compile(r"^\s*\d{1,10}\s*$")


@dataclass(frozen=True)
class TileLink:
    """The tile an address names.  ``layer`` is a layer's key (its id) or its name, or
    None for the first layer."""

    layer: str | None
    level: int
    row: int
    col: int

    def describe(self) -> str:
        return f"tile ({self.row}, {self.col}) of level {self.level}"


@dataclass(frozen=True)
class ResolvedLink:
    """A link checked against the producer's layers: the layer's key and the level's value
    for the selectors."""

    link: TileLink
    layer_key: str
    level: str


def _whole(text: str, what: str, most: int) -> int:
    if not _WHOLE.match(text) or int(text) > most:
        raise ValueError(f"{what} {text[:40]!r} is not a whole number from 0 to {most:,}")
    return int(text)


def parse_link(argument: Callable[[str], str | None]) -> TileLink | str | None:
    """The tile named by the address's ``level`` and ``tile`` (and ``layer``) arguments, read
    with ``argument(name)``; None when it names none; a message (plain text) when they are
    malformed."""
    tile, level, layer = argument("tile"), argument("level"), argument("layer")
    if tile is None and level is None and layer is None:
        return None
    try:
        if tile is None or level is None:
            raise ValueError("a tile link needs level=K and tile=ROW,COL")
        parts = tile.split(",")
        if len(parts) != 2:
            raise ValueError(f"tile {tile[:40]!r} is not ROW,COL")
        row = _whole(parts[0], "row", MAX_EXTENT)
        col = _whole(parts[1], "column", MAX_EXTENT)
        if layer is not None and len(layer) > MAX_LAYER_TEXT:
            raise ValueError(f"the layer is longer than {MAX_LAYER_TEXT} characters")
        return TileLink(layer, _whole(level, "level", MAX_LEVEL), row, col)
    except ValueError as error:
        return f"The link's tile cannot be shown: {error}."


def resolve_link(link: TileLink, tiles_state: Any) -> ResolvedLink | str | None:
    """``link`` checked against a ``tiles`` state: None while the state has no layers yet
    (wait), else the layer and level to show, or why not (plain text)."""
    if not isinstance(tiles_state, dict):
        return None
    entries = {str(key): entry for key, entry in tiles_state.items()
               if isinstance(entry, dict) and isinstance(entry.get("tile_config"), dict)}
    if not entries:
        return None
    if link.layer is None:
        key = next(iter(entries))
    elif link.layer in entries:
        key = link.layer
    else:
        named = [k for k, entry in entries.items() if entry.get("layer") == link.layer]
        if not named:
            return f"The link's layer {link.layer!r} is not among the producer's layers."
        key = named[0]
    try:
        entry = parse_entry(entries[key])
    except ValueError as error:
        return f"The link's layer cannot be shown: {error}."
    info = entry.level_info(link.level)
    if info is None:
        return (f"The link's level {link.level} is not a level of layer {key} "
                f"(it has {len(entry.levels)}).")
    rows, cols = info.tiles
    if link.row >= rows or link.col >= cols:
        return (f"The link's {link.describe()} is outside the level's {rows:,} × {cols:,} "
                "tiles.")
    return ResolvedLink(link, key, str(link.level))


__all__ = ["ResolvedLink", "TileLink", "parse_link", "resolve_link"]
