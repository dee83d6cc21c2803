"""Names of a producer's files and segments, which say who made them.

A channel's token is ``wm`` + its creator's pid (5 base-36 digits) + the creator's start
time (7 base-36 digits of clock ticks since boot; 0 where unknown) + 4 random hex digits::

    wm 02ho0 0001ykq 3fa9            token (18 bytes): descriptor <token>.json, <token>.lock
    wm 02ho0 0001ykq 3fa9 s 8c41d2   a segment (25 bytes): kind letter + 6 random hex digits

So every file a producer leaves (a segment never named in a descriptor, a 0-byte segment
whose header was never written, a temporary descriptor ``.<token>…``) can be traced to the
process that made it, and removed once that process is gone, without opening it.  The
random digits make the next segment's name unguessable for another local user, and a
name that exists already is never taken over: creation is exclusive and retried with new
digits (:func:`create_exclusive`).  Names stay within macOS's 31 bytes.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from .process import process_start_time

PID_DIGITS = 5
START_DIGITS = 7
#: Start times are kept modulo this (about 25 years of uptime at 100 ticks a second).
START_MODULO = 36 ** START_DIGITS
KINDS = "cmska"  # control, mailbox, stream, state key, array
TOKEN_BYTES = 2 + PID_DIGITS + START_DIGITS + 4
_TOKEN = re.compile(r"^wm([0-9a-z]{5})([0-9a-z]{7})[0-9a-f]{4}$")
_SEGMENT = re.compile(r"^(wm[0-9a-z]{12}[0-9a-f]{4})[cmska][0-9a-f]{6}$")
#: How many fresh names to try when one exists already (only a deliberate squatter, or a
#: collision of 24 random bits, makes one exist).
ATTEMPTS = 32

T = TypeVar("T")


class Creator(NamedTuple):
    """Who made a file: a pid and its start time modulo :data:`START_MODULO` (0: unknown)."""

    pid: int
    start: int


def _base36(n: int, width: int) -> str:
    digits = ""
    for _ in range(width):
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
    return digits


def new_token(pid: int | None = None) -> str:
    """A fresh channel token naming this process (or ``pid``) as its creator."""
    pid = os.getpid() if pid is None else pid
    start = (process_start_time(pid) or 0) % START_MODULO
    return ("wm" + _base36(pid % 36 ** PID_DIGITS, PID_DIGITS) + _base36(start, START_DIGITS)
            + secrets.token_hex(2))


def segment_name(token: str, kind: str) -> str:
    """A fresh name for a segment of ``kind`` (one of :data:`KINDS`) in channel ``token``."""
    if kind not in KINDS:
        raise ValueError(f"segment kind must be one of {KINDS!r}, not {kind!r}")
    return token + kind + secrets.token_hex(3)


def is_token(text: str) -> bool:
    return _TOKEN.match(text) is not None


def segment_token(name: str) -> str | None:
    """The channel token of a webmon segment name, or None for any other name."""
    match = _SEGMENT.match(name)
    return match[1] if match else None


def token_creator(token: str) -> Creator | None:
    match = _TOKEN.match(token)
    if match is None:
        return None
    return Creator(int(match[1], 36), int(match[2], 36))


def file_token(entry: str) -> str | None:
    """The token of a runtime-directory entry webmon writes: ``<token>.json``,
    ``<token>.lock``, or a temporary descriptor ``.<token>…``; None for anything else."""
    if entry.startswith("."):
        token = entry[1:1 + TOKEN_BYTES]
        return token if len(entry) > TOKEN_BYTES + 1 and is_token(token) else None
    stem, dot, ext = entry.partition(".")
    return stem if dot and ext in ("json", "lock") and is_token(stem) else None


def create_exclusive(make_name: Callable[[], str], create: Callable[[str], T]) -> T:
    """``create(name)`` with fresh names from ``make_name`` until one does not exist yet."""
    for _ in range(ATTEMPTS - 1):
        try:
            return create(make_name())
        except FileExistsError:
            continue
    return create(make_name())  # let the last FileExistsError say what happened
