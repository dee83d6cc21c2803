"""webmon in Jupyter: notebook panels and the dashboard behind the Jupyter server."""
