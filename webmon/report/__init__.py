"""A recording as one self-contained HTML page (``webmon report``).

Imports the recording, the tabs' server-free pieces (``webmon.apps.common``,
``webmon.apps.loader_stats``), the tile viewer's model, and Bokeh; never the server.
"""

from .page import build_report, write_report

__all__ = ["build_report", "write_report"]
