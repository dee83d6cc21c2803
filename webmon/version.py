"""webmon's version, for the package root and for producers that name it (importing it
loads nothing else)."""

__version__ = "0.1.0"
