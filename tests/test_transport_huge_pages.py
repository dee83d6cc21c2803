"""Large shared arrays ask the kernel for transparent huge pages (``Segment.advise_huge_pages``),
small ones do not: seen in the mapping's flags in ``/proc/self/smaps`` (``hg``)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from webmon import Publisher, Subscriber
from webmon.shm.arrays import HUGE_PAGES_FROM

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="/proc/self/smaps is Linux's")


def vm_flags(segment_name: str) -> list[str]:
    """The VmFlags of this process's mapping of ``segment_name``."""
    flags, inside = None, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            if "-" in line.split(" ", 1)[0] and ":" not in line.split(" ", 1)[0]:
                inside = line.rstrip().endswith("/" + segment_name)
            elif inside and line.startswith("VmFlags:"):
                flags = line.split()[1:]
    if flags is None:
        raise AssertionError(f"no mapping of {segment_name} in /proc/self/smaps")
    return flags


def test_a_large_array_asks_for_huge_pages_and_a_small_one_does_not() -> None:
    with Publisher("pages") as pub:
        pub.share_array("large", np.zeros(HUGE_PAGES_FROM, np.uint8))
        pub.share_array("small", np.zeros(4096, np.uint8))
        with Subscriber("pages") as sub:
            segments = {name: entry["segment"] for name, entry in sub.info.raw["arrays"].items()}
        large, small = segments["large"], segments["small"]
        assert "hg" in vm_flags(large)
        assert "hg" not in vm_flags(small)
