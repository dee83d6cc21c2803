"""The ``explorer`` kind: streams, state and arrays in no schema of webmon's.

    explorer [--rate N] [--empty]

``samples`` (``--rate`` records a second): ``time``, ``value`` (unit ``mV``, from dtype
metadata), ``count`` (unit ``items``, from ``units=``), a text ``label``, a ``flag`` and a
three-element ``xyz``; ``events``: text fields only; ``ticks``: numbers without a ``time``;
``x<i>marked</i>``: a field, a unit and a description in markup.
State ``config`` (nested, with markup in a key and a value) and ``progress`` (its ``step``
grows every second); arrays ``image`` (1,200 x 900 float32) and ``curve`` (5,000 float64).
Commands: ``set(key=, value=)`` puts a value into ``config``; ``bump()`` adds 1 to both
arrays.  ``--empty`` publishes nothing at all.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from webmon.shm import Publisher

from . import Control

MARKUP = '<img src=x onerror="window.__xss=1">'
SAMPLES_DTYPE = np.dtype([
    ("time", "<f8"),
    ("value", np.dtype("<f4", metadata={"unit": "mV", "description": "the measured value"})),
    ("count", "<i8"),
    ("label", "S8"),
    ("flag", "?"),
    ("xyz", "<f4", (3,)),
])
EVENTS_DTYPE = np.dtype([("name", "S16"), ("code", "S4")])
TICKS_DTYPE = np.dtype([("n", "<u4"), ("load", "<f4")])
#: A stream whose own name, field name and unit are markup.
MARKED_STREAM = "x<i>marked</i>"  # listed last, so not plotted by default
MARKED_DTYPE = np.dtype([(MARKUP, np.dtype("<f4", metadata={"unit": "<b>u</b>"}))])
IMAGE_SHAPE = (1200, 900)
CURVE_LENGTH = 5000


def sample_value(seq: int) -> float:
    """What ``value`` record ``seq`` holds: a sawtooth, so consecutive points differ."""
    return float(np.float32((seq % 50) * 0.75 - 10.0))


def image(offset: float) -> np.ndarray:
    rows, cols = np.indices(IMAGE_SHAPE, dtype=np.float32)
    return rows + cols * 0.001 + offset


def curve(offset: float) -> np.ndarray:
    return np.sin(np.linspace(0.0, 20.0, CURVE_LENGTH)) + offset


def run(kind: str, name: str, argv: list[str], control: Control) -> None:
    parser = argparse.ArgumentParser(prog=f"producers {kind} NAME")
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--empty", action="store_true")
    args = parser.parse_args(argv)

    stop = control.stop
    with Publisher(name, app="explorer-test-producer") as pub:
        if args.empty:
            control.ready()
            stop.wait()
            return
        samples = pub.stream("samples", SAMPLES_DTYPE, capacity=1 << 17,
                             description="one record per sample", units={"count": "items"})
        events = pub.stream("events", EVENTS_DTYPE, capacity=1024)
        ticks = pub.stream("ticks", TICKS_DTYPE, capacity=1024)
        marked = pub.stream(MARKED_STREAM, MARKED_DTYPE, capacity=1024,
                            description=MARKUP)
        config = {"rate": args.rate, "nested": {"depth": {"list": [1, 2, 3]}},
                  "<b>key</b>": MARKUP, "flag": True, "nothing": None}
        progress = {"step": 0}
        pub.set_state("config", config)
        pub.set_state("progress", progress)
        offset = [0.0]
        pub.share_array("image", image(0.0))
        pub.share_array("curve", curve(0.0))

        def set_value(key: str, value: object) -> dict:
            config[str(key)] = value
            pub.set_state("config", config)
            return config

        def bump() -> float:
            offset[0] += 1.0
            pub.share_array("image", image(offset[0]))
            pub.share_array("curve", curve(offset[0]))
            return offset[0]

        pub.register_command("set", set_value)
        pub.register_command("bump", bump)
        control.ready()

        start = time.time()
        sent = 0
        last_second = 0
        while not stop.is_set():
            now = time.time()
            due = int((now - start) * args.rate)
            while sent < due:
                samples.append((now, sample_value(sent), sent, b"s%d" % (sent % 7), sent % 2,
                                (sent, -sent, 0.5)))
                sent += 1
            second = int(now - start)
            if second != last_second:
                last_second = second
                progress["step"] = second
                pub.set_state("progress", progress)
                events.append((b"tick", b"ok"))
                ticks.append((second, second * 0.5))
                marked.append((float(second),))
            pub.poll()
            time.sleep(0.002)
