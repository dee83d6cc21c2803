"""webmon: a live monitoring dashboard for napari and any Python application."""
