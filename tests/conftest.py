"""Shared fixtures: every test gets its own private runtime directory, so producers started
by one test (or by a developer's running demo) never show up in another."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child interpreters: this checkout importable, same runtime dir."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def python_interpreters() -> list[str]:
    """Interpreters to run cross-process transport tests with.

    ``WEBMON_TEST_PYTHONS`` lists extra interpreters (os.pathsep-separated), each with numpy
    installed; CI sets it to Python 3.12 and 3.13 beside the default 3.11.
    """
    extra = [p for p in os.environ.get("WEBMON_TEST_PYTHONS", "").split(os.pathsep) if p]
    return [sys.executable, *extra]
