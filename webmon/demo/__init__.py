"""The demo producer: a realistic stand-in for napari, publishing webmon's telemetry schema.

A large procedural multiscale image (``image``), a camera touring it (``tour``), a loader
computing its tiles in worker threads (``loader``), wired to a Publisher (``producer``).
"""
