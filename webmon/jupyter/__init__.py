"""webmon in Jupyter: notebook panels and the dashboard behind the Jupyter server.

``webmon.show(name)`` shows one dashboard panel live in a notebook cell; ``webmon.panels()``
lists the names (see ``docs/jupyter.md``).  They are imported on first use: the Jupyter
server loads :mod:`webmon.jupyter.proxy` through this package, and must not pay for Bokeh.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: Public name -> module of this package defining it.
_LAZY = {
    "show": "notebook",
    "load": "notebook",
    "close": "notebook",
    "address": "notebook",
    "panels": "catalog",
    "UnknownPanelError": "catalog",
    "JupyterHubAddressError": "notebook_url",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
