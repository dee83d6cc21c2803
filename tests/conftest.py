"""Shared fixtures: every test gets its own private runtime directory, so producers started
by one test (or by a developer's running demo) never show up in another.  The helpers the
tests share are in ``helpers.py``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def runtime_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path_factory.mktemp("webmon-run")
    path.chmod(0o700)
    monkeypatch.setenv("WEBMON_RUNTIME_DIR", str(path))
    yield path
    # Remove what producers killed by this test left, before their descriptors go with the
    # directory (segments without a descriptor would otherwise wait for a later sweep).
    from webmon.shm import discover, sweep_orphans

    discover()
    sweep_orphans()
    shutil.rmtree(path, ignore_errors=True)
