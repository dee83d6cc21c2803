"""The profile tab: a flame graph of what the producer's threads were doing, over a chosen
window, or during slow frames only (``docs/profile.md``).

The producer runs ``webmon.instruments.Profiler``; it samples only while this tab (or
``/individual-profile``) is open somewhere, because the tab asks for ``PROFILE``.
"""

from __future__ import annotations

from typing import Any

from webmon.server import Session, Tab

from .flame import ProfileFlame


def build(session: Session) -> Any:
    return session.add(ProfileFlame(session)).root


TAB = Tab(name="profile", title="Profile", build=build, components={"profile": ProfileFlame})

__all__ = ["TAB", "ProfileFlame", "build"]
