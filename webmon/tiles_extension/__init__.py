"""The tile viewer: a Bokeh model (TypeScript + three.js).  It imports only Bokeh; what it
draws is made from the producer's ``tiles`` state by ``webmon.tiles``.

``python -m webmon.tiles_extension.build`` rebuilds the shipped bundle; see ``docs/tiles.md``.
"""

from .tile_viewer import TileViewer

__all__ = ["TileViewer"]
