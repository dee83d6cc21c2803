"""What ``pub.span`` accepts: strings for names, finite numbers for arguments.  Each check
raises ``TypeError`` or ``ValueError`` with a message saying what was wrong."""

from __future__ import annotations

import math
import numbers
from typing import Any

from webmon.schema import SPAN_ARGS

#: Longest name, category or argument name, in characters.
MAX_STRING_CHARS = 200


def checked_text(text: Any, what: str) -> str:
    """``text`` as a plain ``str`` of at most ``MAX_STRING_CHARS`` characters."""
    if type(text) is not str:
        if not isinstance(text, str):
            raise TypeError(f"{what} must be a str, not {type(text).__name__}: {text!r}")
        text = str(text)  # a str subclass: its plain value
    if len(text) > MAX_STRING_CHARS:
        raise ValueError(f"{what} {text[:40]!r}... is {len(text)} characters long; at most "
                         f"{MAX_STRING_CHARS} are kept")
    return text


def checked_values(args: dict[str, Any]) -> dict[str, float]:
    """``args`` with every value a finite float or int, at most ``SPAN_ARGS`` of them."""
    if len(args) > SPAN_ARGS:
        raise ValueError(f"a span takes at most {SPAN_ARGS} arguments, got {len(args)}: "
                         f"{sorted(args)}")
    checked = {}
    for key, value in args.items():
        kind = type(value)
        if kind is not float and kind is not int:
            if not is_number(value):
                raise TypeError(f"span argument {key}={value!r} is not a number "
                                f"({type(value).__name__}); span arguments are numeric")
            value = float(value)
        try:
            finite = math.isfinite(value)
        except OverflowError:  # an int too large for a float
            finite = False
        if not finite:
            raise ValueError(f"span argument {key}={value!r} is not finite")
        checked[key] = value
    return checked


def is_number(value: Any) -> bool:
    """int, float, bool (0 or 1) and numpy numbers."""
    return isinstance(value, numbers.Real)
