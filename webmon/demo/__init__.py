"""The demo producer: a realistic stand-in for napari, publishing webmon's telemetry schema.

A large procedural multiscale image (``image``), a camera touring it (``tour``, ``view``), a
loader computing its tiles in worker threads (``loader``), wired to a Publisher
(``producer``).  ``run()`` runs it; ``python -m webmon.demo`` and ``webmon demo`` call it.
"""

from webmon.demo.producer import DemoProducer, run

__all__ = ["DemoProducer", "run"]
