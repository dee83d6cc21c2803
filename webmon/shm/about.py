"""What a producer says about a stream: a description, and a unit and description per field.

A producer gives them in two ways, which combine (the explicit arguments win):

- numpy dtype metadata: ``np.dtype("<f4", metadata={"unit": "ms", "description": "..."})``
  as a field's dtype, and ``metadata={"description": "..."}`` on the record dtype itself;
- ``Publisher.stream(name, dtype, description="...", units={"field": "unit"})``.

They travel in the producer's descriptor beside the dtype (whose JSON form has no room for
metadata).  On the reading side the descriptor is another process's file: :func:`parse_about`
never raises, looks up only the dtype's own field names (so a huge ``fields`` object costs
nothing), ignores values of the wrong type and clips text that is too long.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

#: Longest texts a producer may give (characters); longer ones are refused at the producer
#: and clipped by a reader.
MAX_DESCRIPTION = 1000
MAX_UNIT = 32
MAX_FIELD_DESCRIPTION = 300


@dataclass(frozen=True)
class FieldAbout:
    """The unit and description of one field; empty strings when the producer gave none."""

    unit: str = ""
    description: str = ""


@dataclass(frozen=True)
class StreamAbout:
    """A stream's description and its fields' units and descriptions."""

    description: str = ""
    fields: Mapping[str, FieldAbout] = field(default_factory=lambda: MappingProxyType({}))

    def unit(self, name: str) -> str:
        about = self.fields.get(name)
        return about.unit if about is not None else ""

    def field_description(self, name: str) -> str:
        about = self.fields.get(name)
        return about.description if about is not None else ""

    def __bool__(self) -> bool:
        return bool(self.description or self.fields)


EMPTY = StreamAbout()


# -- the producer's side ------------------------------------------------------------------
def describe_stream(dtype: np.dtype, description: str | None = None,
                    units: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The descriptor's ``about`` entry for a stream of ``dtype`` (``{}`` when nothing is
    said).  Raises ``TypeError`` or ``ValueError`` for a text of the wrong type or length,
    or a unit for a field the dtype does not have."""
    names = list(dtype.names or ())
    text = _checked("description", _metadata(dtype).get("description", ""), MAX_DESCRIPTION)
    if description is not None:
        text = _checked("description", description, MAX_DESCRIPTION)
    fields: dict[str, dict[str, str]] = {}
    for name in names:
        meta = _metadata(dtype.fields[name][0])
        entry = {}
        if "unit" in meta:
            entry["unit"] = _checked(f"unit of field {name!r}", meta["unit"], MAX_UNIT)
        if "description" in meta:
            entry["description"] = _checked(f"description of field {name!r}",
                                             meta["description"], MAX_FIELD_DESCRIPTION)
        fields[name] = entry
    if units is not None:
        if not isinstance(units, Mapping):
            raise TypeError(f"units must map field names to units, not {type(units).__name__}")
        for name, unit in units.items():
            if name not in fields:
                raise ValueError(f"units name a field {name!r} the dtype does not have "
                                 f"(its fields: {', '.join(names) or 'none'})")
            fields[name]["unit"] = _checked(f"unit of field {name!r}", unit, MAX_UNIT)
    about: dict[str, Any] = {}
    if text:
        about["description"] = text
    said = {name: entry for name, entry in fields.items() if any(entry.values())}
    if said:
        about["fields"] = said
    return about


def _metadata(dtype: np.dtype) -> Mapping[str, Any]:
    meta = dtype.metadata
    return meta if isinstance(meta, Mapping) else {}


def _checked(what: str, text: Any, limit: int) -> str:
    if not isinstance(text, str):
        raise TypeError(f"the {what} must be a string, not {type(text).__name__}")
    if len(text) > limit:
        raise ValueError(f"the {what} is {len(text)} characters long; at most {limit}")
    return text


def about_to_json(about: StreamAbout) -> dict[str, Any]:
    """``about`` in the descriptor's form (what :func:`parse_about` reads back)."""
    out: dict[str, Any] = {}
    if about.description:
        out["description"] = about.description
    fields = {name: {k: v for k, v in (("unit", f.unit), ("description", f.description)) if v}
              for name, f in about.fields.items()}
    if fields:
        out["fields"] = fields
    return out


def dtype_with_about(dtype: np.dtype, about: StreamAbout) -> np.dtype:
    """``dtype`` (same layout) carrying ``about`` as numpy metadata, as a producer would have
    written it: how a replay gives its streams back their units and descriptions."""
    if not about or dtype.names is None:
        return dtype
    formats = []
    for name in dtype.names:
        field_dtype = dtype.fields[name][0]
        given = about.fields.get(name)
        meta = {k: v for k, v in (("unit", given.unit), ("description", given.description))
                if v} if given is not None else {}
        formats.append(np.dtype(field_dtype, metadata=meta) if meta else field_dtype)
    spec = {"names": list(dtype.names), "formats": formats,
            "offsets": [dtype.fields[name][1] for name in dtype.names],
            "itemsize": dtype.itemsize}
    if about.description:
        return np.dtype(spec, metadata={"description": about.description})
    return np.dtype(spec)


# -- the reader's side --------------------------------------------------------------------
def parse_about(raw: Any, dtype: np.dtype) -> StreamAbout:
    """The :class:`StreamAbout` a descriptor's ``about`` entry gives for a stream of
    ``dtype``; :data:`EMPTY` for anything unusable.  Never raises."""
    if not isinstance(raw, dict):
        return EMPTY
    description = _clip(raw.get("description"), MAX_DESCRIPTION)
    given = raw.get("fields")
    fields: dict[str, FieldAbout] = {}
    if isinstance(given, dict):
        for name in dtype.names or ():
            entry = given.get(name)
            if not isinstance(entry, dict):
                continue
            about = FieldAbout(_clip(entry.get("unit"), MAX_UNIT),
                               _clip(entry.get("description"), MAX_FIELD_DESCRIPTION))
            if about.unit or about.description:
                fields[name] = about
    if not description and not fields:
        return EMPTY
    return StreamAbout(description, MappingProxyType(fields))


def _clip(value: Any, limit: int) -> str:
    if not isinstance(value, str):
        return ""
    return value if len(value) <= limit else value[: limit - 1] + "\N{HORIZONTAL ELLIPSIS}"
