"""The status tab against a hub fed by real producer processes."""

from __future__ import annotations

import signal

from bokeh.document import Document
from helpers import producer, wait_until

from webmon.apps import status
from webmon.server import Hub, Session

EVIL = "<script>alert(1)</script>"


def test_status_lists_producers_streams_and_the_hub() -> None:
    hub = Hub(interval=0.05, discover_interval=0.0)
    try:
        with producer("schema", "alpha", "--rate", "300", "--app", EVIL), \
                producer("schema", "beta", "--rate", "50") as beta:
            doc = Document()
            session = Session(hub, doc)
            doc.add_root(status.build(session))
            for component in status.TAB.components.values():
                lone = Session(hub, Document())
                lone.doc.add_root(lone.add(component(lone)).root)

            def rows() -> dict:
                hub.tick()
                for component in session._components:  # tables refresh once a second
                    getattr(component, "every", None) and component.every.force()
                session.update()
                return doc.get_model_by_name("status-producers").data

            wait_until(lambda: len(rows()["name"]) == 2, message="both producers listed")
            data = rows()
            assert sorted(data["name"]) == ["alpha", "beta"]
            assert data["state"] == ["live", "live"]
            assert EVIL in data["app"]  # plain text in the source; the table renders text

            def rate(name: str, stream: str = "chunk_loads") -> float:
                streams = doc.get_model_by_name("status-streams").data
                for producer_name, stream_name, value in zip(
                        streams["producer"], streams["stream"], streams["rate"], strict=True):
                    if producer_name.startswith(f"{name} \u00b7 pid ") and stream_name == stream:
                        return value
                return -1.0

            wait_until(lambda: (rows(), 200 < rate("alpha") < 400 and 25 < rate("beta") < 80)[1],
                       timeout=10, message="rates measured")

            text = doc.get_model_by_name("status-server").text
            assert f"{hub.session_count} sessions" in text and hub.session_count == 4
            assert len(doc.get_model_by_name("status-hub-ticks").data["time"]) > 0

            beta.send_signal(signal.SIGKILL)
            beta.wait()
            wait_until(lambda: "gone" in rows()["state"], message="beta shown as gone")
            data = rows()
            assert dict(zip(data["name"], data["state"], strict=True)) == {
                "alpha": "live", "beta": "gone"}
    finally:
        hub.stop()
