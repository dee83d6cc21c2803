"""The tile viewer: a Bokeh model (TypeScript + three.js) and the helper that feeds it.

``python -m webmon.tiles_extension.build`` rebuilds the shipped bundle; see ``docs/tiles.md``.
"""

from .inputs import IDLE, LOADED, LOADING, SEEN, TileViewerInputs, tiles_entry_to_inputs
from .tile_viewer import TileViewer

__all__ = [
    "IDLE",
    "LOADED",
    "LOADING",
    "SEEN",
    "TileViewer",
    "TileViewerInputs",
    "tiles_entry_to_inputs",
]
