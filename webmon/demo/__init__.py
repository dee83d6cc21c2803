"""The demo producer: a realistic stand-in for napari, publishing webmon's telemetry schema.

A large procedural multiscale image (``image``), a camera touring it (``tour``, ``view``), a
loader computing its tiles in worker threads (``loader``), wired to a Publisher
(``producer``) and paced by ``frame_loop``.  ``run()`` runs it; ``python -m webmon.demo``
and ``webmon demo`` call it.
"""

from webmon.demo.frame_loop import run
from webmon.demo.producer import DemoProducer

__all__ = ["DemoProducer", "run"]
