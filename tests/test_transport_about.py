"""What producers say about their streams (units, descriptions), and reading any shared
array on request (its version, a decimated region): the producer's checks, the round trip
through the descriptor, and a descriptor written by a hostile process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from helpers import child_env, run_python

from webmon import Publisher, Subscriber
from webmon.shm.about import (
    EMPTY,
    MAX_DESCRIPTION,
    MAX_FIELD_DESCRIPTION,
    MAX_UNIT,
    describe_stream,
    parse_about,
)
from webmon.shm.discovery import parse_descriptor, read_descriptor

LOSS = np.dtype("<f4", metadata={"unit": "nats", "description": "mean cross-entropy"})
BATCH = np.dtype([("time", "<f8"), ("loss", LOSS), ("batch_ms", "<f4"), ("step", "<u8")],
                 metadata={"description": "one record per batch"})


def test_units_and_descriptions_travel_from_metadata_and_arguments() -> None:
    with Publisher("p") as pub:
        pub.stream("batches", BATCH, capacity=16, units={"batch_ms": "ms"})
        plain = pub.stream("plain", np.dtype([("x", "<f4")]), capacity=4)
        with Subscriber("p") as sub:
            about = sub.info.streams["batches"].about
            assert about.description == "one record per batch"
            assert about.unit("loss") == "nats"
            assert about.field_description("loss") == "mean cross-entropy"
            assert about.unit("batch_ms") == "ms"
            assert about.unit("step") == "" and about.unit("nope") == ""
            assert sub.info.streams["plain"].about is EMPTY
            # The records themselves are unchanged by the metadata.
            pub.stream("batches", BATCH).append((1.0, 2.5, 3.0, 4))
            assert sub.read("batches").records[0].item() == (1.0, 2.5, 3.0, 4)
            # Asking again with new words updates what readers see; asking without keeps them.
            pub.stream("batches", BATCH, description="per batch", units={"loss": "bits"})
            assert pub.stream("batches", BATCH) is not None
            about = sub.info.streams["batches"].about
            assert about.description == "per batch" and about.unit("loss") == "bits"
            assert plain.dtype.names == ("x",)


def test_descriptor_carries_nothing_for_streams_nobody_described() -> None:
    with Publisher("p") as pub:
        pub.stream("plain", np.dtype([("x", "<f4")]), capacity=4)
        with Subscriber("p") as sub:
            assert "about" not in read_descriptor(sub.info.path)["streams"]["plain"]


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"units": {"nope": "ms"}}, ValueError, "does not have"),
    ({"units": {"loss": 3}}, TypeError, "must be a string"),
    ({"units": ["loss"]}, TypeError, "must map"),
    ({"units": {"loss": "m" * (MAX_UNIT + 1)}}, ValueError, "at most"),
    ({"description": b"bytes"}, TypeError, "must be a string"),
    ({"description": "d" * (MAX_DESCRIPTION + 1)}, ValueError, "at most"),
])
def test_the_producer_refuses_bad_words_and_creates_nothing(kwargs, error, words) -> None:
    with Publisher("p") as pub:
        with pytest.raises(error, match=words):
            pub.stream("batches", BATCH, capacity=16, **kwargs)
        assert pub.streams == []


def test_the_producer_refuses_bad_metadata() -> None:
    bad_unit = np.dtype([("x", np.dtype("<f4", metadata={"unit": 5}))])
    long_text = np.dtype([("x", np.dtype("<f4", metadata={
        "description": "w" * (MAX_FIELD_DESCRIPTION + 1)}))])
    with Publisher("p") as pub:
        with pytest.raises(TypeError, match="unit of field 'x'"):
            pub.stream("a", bad_unit)
        with pytest.raises(ValueError, match="description of field 'x'"):
            pub.stream("b", long_text)
        assert pub.streams == []


@pytest.mark.parametrize("raw", [
    None, 7, "text", [], ["description"], {"description": 5}, {"fields": []},
    {"fields": "loss"}, {"fields": {"loss": "nats"}}, {"fields": {"loss": [1, 2]}},
    {"fields": {"loss": {"unit": 3, "description": None}}}, {"description": {"a": 1}},
])
def test_a_reader_ignores_malformed_words(raw) -> None:
    assert parse_about(raw, BATCH) is EMPTY


def test_a_reader_clips_oversized_words_and_skips_fields_the_dtype_lacks() -> None:
    raw = {"description": "d" * 100_000,
           "fields": {"loss": {"unit": "u" * 5000, "description": "x" * 5000},
                      "ghost": {"unit": "ms"},
                      **{f"f{i}": {"unit": "s"} for i in range(50_000)}}}
    about = parse_about(raw, BATCH)
    assert len(about.description) == MAX_DESCRIPTION and about.description.endswith("…")
    assert len(about.unit("loss")) == MAX_UNIT
    assert len(about.field_description("loss")) == MAX_FIELD_DESCRIPTION
    assert set(about.fields) == {"loss"}


def test_a_hostile_descriptor_keeps_its_stream_readable(runtime_dir) -> None:
    """A descriptor whose ``about`` is garbage still lists the stream, with no words."""
    with Publisher("p") as pub:
        pub.stream("batches", BATCH, capacity=16)
        with Subscriber("p") as sub:
            path = sub.info.path
            raw = read_descriptor(path)
            for garbage in (["x"], {"fields": {"loss": {"unit": {"<b>": 1}}}}, "a" * 10_000):
                raw["streams"]["batches"]["about"] = garbage
                info = parse_descriptor(json.loads(json.dumps(raw)), path)
                assert info.streams["batches"].dtype == BATCH
                assert info.streams["batches"].about.unit("loss") == ""


def test_markup_in_words_is_kept_as_text_for_the_page_to_escape() -> None:
    evil = '<img src=x onerror="alert(1)">'
    about = parse_about({"description": evil, "fields": {"loss": {"unit": evil[:MAX_UNIT]}}},
                        BATCH)
    assert about.description == evil and about.unit("loss") == evil[:MAX_UNIT]


def test_describe_stream_of_a_plain_dtype() -> None:
    assert describe_stream(np.dtype("<f8")) == {}
    assert describe_stream(np.dtype("<f8"), "one number") == {"description": "one number"}
    with pytest.raises(ValueError, match="none"):
        describe_stream(np.dtype("<f8"), units={"x": "ms"})


def test_units_reach_a_reader_in_another_process() -> None:
    code = """
import json, numpy as np, sys
from webmon import Publisher, Subscriber
with Publisher("other") as pub:
    pub.stream("s", np.dtype([("t", "<f8"), ("v", "<f4")]), description="vals",
               units={"v": "mV"})
    print("READY", flush=True)
    sys.stdin.read()
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=child_env())
    try:
        assert proc.stdout.readline().strip() == "READY"
        result = run_python("""
from webmon import Subscriber
about = Subscriber("other").info.streams["s"].about
print(about.description, about.unit("v"))
""")
        assert result.stdout.split() == ["vals", "mV"], result.stderr
    finally:
        proc.stdin.close()
        proc.wait(timeout=15)
        proc.stdout.close()


# -- arrays read on request ---------------------------------------------------------------
def test_array_info_version_and_a_strided_region() -> None:
    image = np.arange(600 * 800, dtype=np.float32).reshape(600, 800)
    with Publisher("p") as pub:
        pub.share_array("image", image)
        with Subscriber("p") as sub:
            shape, dtype, version = sub.array_info("image")
            assert (shape, dtype, version) == ((600, 800), np.dtype("<f4"), 1)
            part = sub.array("image", region=(slice(None, None, 3), slice(10, 20, 2)))
            np.testing.assert_array_equal(part, image[::3, 10:20:2])
            pub.share_array("image", image + 1)
            pub.share_array("image", image + 2)
            assert sub.array_info("image")[2] == 3
            np.testing.assert_array_equal(sub.array("image", region=(slice(0, 1),)),
                                          image[:1] + 2)
            # Reshaped into a new segment: the reader follows, and the count starts again.
            pub.share_array("image", np.ones(5, np.int16))
            assert sub.array_info("image") == ((5,), np.dtype("<i2"), 1)


@pytest.mark.parametrize("region", [[slice(0, 1)], (0,), (slice(None),) * 3, "rows"])
def test_a_malformed_region_is_refused(region) -> None:
    with Publisher("p") as pub:
        pub.share_array("image", np.zeros((4, 4)))
        with Subscriber("p") as sub, pytest.raises(TypeError, match="region"):
            sub.array("image", region=region)
