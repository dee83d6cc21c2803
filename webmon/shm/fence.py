"""A full memory fence from Python, for the one place that needs ordering rather than checks.

Shared arrays are too large to checksum at memcpy speed, so they use a seqlock, and a seqlock
needs its counter and data accesses ordered.  Python exposes no fence instruction, but POSIX
(XBD 4.12, "Memory Synchronization") requires lock and unlock operations to synchronize
memory, and CPython's ``threading.Lock`` is built on them (``sem_post``/``sem_wait`` or a
pthread mutex; on 3.13 an atomic compare-exchange).  Releasing a lock we hold and taking it
again is a release followed by an acquire: accesses before cannot move after it, accesses
after cannot move before it, and on ARMv8 a store-release followed by a load-acquire is not
reordered.  That is the fence the seqlock needs, at the cost of two uncontended lock calls.
"""

from __future__ import annotations

import threading

_local = threading.local()


def fence() -> None:
    lock = getattr(_local, "lock", None)
    if lock is None:
        lock = _local.lock = threading.Lock()
        lock.acquire()
    lock.release()
    lock.acquire()
