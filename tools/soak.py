"""Fault-injection soak: a dashboard serves two Chromium pages for minutes while producers
are killed, segments damaged, commands flooded and hostile files dropped.

    python tools/soak.py [--minutes 10] [--seed 16] [--json soak.json]

``webmon dashboard`` runs as a process of its own, with a private runtime directory, and
``/status`` and ``/loader`` stay open in headless Chromium.  Four producers (the test
producer's ``schema`` kind, ``tests/producers/``, some sharing a name) publish meanwhile;
about once a second one fault, drawn at random, is injected (each is also a fast test: see
``tests/faults.py`` and docs/reliability.md):

* ``kill``: SIGKILL a producer, and start another in its place;
* ``kill_reshaping``: fork producers that keep creating and reshaping segments and
  SIGKILL each 0-40 ms later (``tests/fork_server.py``);
* ``damage_magic``, ``truncate``, ``deep_state``: damage a producer's state or stream
  segment (a flipped magic byte; truncated to 0 bytes, under every mapping; JSON nested
  20,000 deep in a state slot);
* ``flood``: 80 threads calling one producer through one Subscriber, then malformed
  requests written straight into its mailbox;
* ``hostile_entry``: a FIFO, a link to /dev/zero or to /, a 100 MB file, a directory,
  garbage or deep JSON, named like a descriptor, into the runtime directory;
* ``squat``: segments named like a live producer's next ones, created first.

At the end the producers are SIGKILLed and the dashboard runs 5 s more.  Printed (and
written with ``--json``): faults by kind, dashboard restarts, errors the dashboard logged,
files left behind, the dashboard's memory in the first and the last minute, the pages'
errors and whether they still update.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import faults  # noqa: E402
import psutil  # noqa: E402
from browser_util import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

from webmon import Subscriber, WebmonError, discover  # noqa: E402
from webmon.schema import CMD_SET_CONCURRENCY  # noqa: E402
from webmon.shm import CommandError, CommandOutcomeUnknown, CommandTimeout, names  # noqa: E402
from webmon.shm.segment import Segment  # noqa: E402

PRODUCERS = 4
NAMES = ("soak-a", "soak-b", "soak-c")  # fewer names than producers: namesakes happen
WEIGHTS = {"kill": 2, "kill_reshaping": 2, "damage_magic": 1, "truncate": 1, "deep_state": 1,
           "flood": 1, "hostile_entry": 2, "squat": 1}
LOG_LINE = re.compile(r"^\S+ \S+ (\S+) (DEBUG|INFO|WARNING|ERROR|CRITICAL): ")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Dashboard:
    """``webmon dashboard`` on a fixed port, restarted (and counted) if it ever exits."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/"
        self.log_path = log
        self.restarts: list[int] = []
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "webmon.cli", "dashboard", "--port", str(self.port),
             "--interval", "100ms"], stdout=log, stderr=subprocess.STDOUT, env=env())
        log.close()
        deadline = time.monotonic() + 60
        while f"webmon dashboard at {self.url}" not in self.log_path.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the dashboard did not start:\n{self.log_path.read_text()}")
            time.sleep(0.1)

    def check(self) -> bool:
        """Restart the dashboard if it exited; True when it had to be."""
        code = self.proc.poll()
        if code is None:
            return False
        self.restarts.append(code)
        self.start()
        return True

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def env() -> dict[str, str]:
    variables = dict(os.environ)
    variables["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests"),
                                               variables.get("PYTHONPATH", "")])
    return variables


class Producers:
    """A few ``python -m producers schema`` processes; dead ones are replaced."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.procs: list[subprocess.Popen] = []
        self.pids: set[int] = set()

    def top_up(self) -> None:
        self.procs = [p for p in self.procs if p.poll() is None]
        while len(self.procs) < PRODUCERS:
            proc = subprocess.Popen(
                [sys.executable, "-m", "producers", "schema", self.rng.choice(NAMES),
                 "--rate", "300"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=env())
            self.procs.append(proc)
            self.pids.add(proc.pid)

    def live_infos(self) -> list[Any]:
        mine = {p.pid for p in self.procs if p.poll() is None}
        # Without cleaning: what dead producers leave is for the dashboard to sweep.
        return [i for i in discover(clean=False) if i.pid in mine]

    def kill_one(self) -> None:
        live = [p for p in self.procs if p.poll() is None]
        if live:
            victim = self.rng.choice(live)
            victim.kill()
            victim.wait()

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


class Soak:
    def __init__(self, args: argparse.Namespace, runtime: Path) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.runtime = runtime
        self.faults: collections.Counter[str] = collections.Counter()  # events, by kind
        self.details: collections.Counter[str] = collections.Counter()  # what they did
        self.outcomes: collections.Counter[str] = collections.Counter()
        self._outcomes_lock = threading.Lock()  # the flood's threads count too
        self.hostile: list[Path] = []
        self.squatted: list[Segment] = []
        self.fork_pids: set[int] = set()
        self.damaged: set[int] = set()  # producers whose segments were damaged
        self.producers = Producers(self.rng)
        self.fork_server = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "fork_server.py")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env())
        assert self.fork_server.stdout.readline().strip() == "READY"

    # -- the faults ----------------------------------------------------------------------
    def inject(self) -> None:
        kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        try:
            done = getattr(self, f"_{kind}")()
        except (WebmonError, OSError) as exc:  # the target vanished meanwhile
            self.outcomes[f"{kind}: target gone ({type(exc).__name__})"] += 1
            return
        if done is not False:
            self.faults[kind] += 1

    def _segment(self, group: str) -> str | None:
        """A segment of a live producer, which counts as damaged from now on."""
        infos = self.producers.live_infos()
        entries = [(i.pid, e["segment"]) for i in infos for e in i.raw[group].values()]
        if not entries:
            return None
        pid, segment = self.rng.choice(entries)
        self.damaged.add(pid)
        return segment

    def _kill(self) -> None:
        self.producers.kill_one()

    def _kill_reshaping(self) -> None:
        for i in range(5):
            self.fork_server.stdin.write(f"fork reshaping{self.faults['kill_reshaping']}{i}\n")
            self.fork_server.stdin.flush()
            pid = int(self.fork_server.stdout.readline())
            time.sleep(self.rng.uniform(0.0, 0.04))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.fork_pids.add(pid)
        self.details["processes killed mid-creation"] += 5

    def _damage_magic(self) -> bool:
        segment = self._segment(self.rng.choice(["state", "streams"]))
        if segment is None:
            return False
        faults.damage_magic(segment)
        return True

    def _truncate(self) -> bool:
        segment = self._segment(self.rng.choice(["state", "streams"]))
        if segment is None:
            return False
        faults.truncate(segment)  # (the producer dies of it at its next write)
        return True

    def _deep_state(self) -> bool:
        segment = self._segment("state")
        return segment is not None and faults.write_deep_state(segment)

    def _flood(self) -> bool:
        # An intact producer: one whose segment was truncated dies at its next write.
        infos = [i for i in self.producers.live_infos() if i.pid not in self.damaged]
        if not infos:
            return False
        sub = Subscriber(self.rng.choice(infos))
        try:
            def caller(t: int) -> None:
                for _ in range(3):
                    try:
                        # the same value: its state is not rewritten
                        sub.call(CMD_SET_CONCURRENCY, workers=4, timeout=0.5)
                        outcome = "ok"
                    except CommandTimeout:
                        outcome = "timeout"
                    except CommandOutcomeUnknown:
                        outcome = "outcome unknown"
                    except CommandError as exc:
                        outcome = "error: gone" if "not running" in str(exc) else "error"
                    with self._outcomes_lock:
                        self.outcomes[f"flood call: {outcome}"] += 1

            threads = [threading.Thread(target=caller, args=(t,)) for t in range(80)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for payload in faults.MALFORMED_REQUESTS:
                reply = faults.raw_reply(sub, faults.raw_request(sub, payload), timeout=2.0)
                ok = reply is not None and reply.get("ok") is False
                self.outcomes[f"malformed request: {'refused' if ok else 'no reply'}"] += 1
        finally:
            sub.close()
        return True

    def _hostile_entry(self) -> None:
        kind = self.rng.choice(faults.HOSTILE_ENTRIES)
        self.hostile.append(faults.hostile_entry(self.runtime, kind))
        self.details[f"hostile entry: {kind}"] += 1
        if len(self.hostile) > 12:  # a few at a time, replaced as they come
            faults.remove_entry(self.hostile.pop(0))

    def _squat(self) -> bool:
        infos = self.producers.live_infos()
        if not infos:
            return False
        token = self.rng.choice(infos).token
        for kind in "ska":
            self.squatted.append(Segment.create(names.segment_name(token, kind), 4096))
        return True

    # -- the end -------------------------------------------------------------------------
    def clean_up_own(self) -> None:
        for path in self.hostile:
            faults.remove_entry(path)
        for seg in self.squatted:
            seg.close()
            seg.unlink()
        self.producers.kill_all()
        self.fork_server.stdin.close()
        self.fork_server.wait(timeout=30)

    def left_behind(self) -> list[str]:
        pids = self.producers.pids | self.fork_pids | {self.fork_server.pid}
        return sorted(set(os.listdir(self.runtime)) | set(faults.attributed_files(
            self.runtime, pids)))


class Pages:
    """Two pages of the dashboard in Chromium, with the errors they report."""

    def __init__(self, browser: Any, url: str) -> None:
        self.url = url
        self.errors: list[str] = []
        self.pages = {}
        for tab in ("status", "loader"):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
            page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
            self.pages[tab] = page
        self.reload()

    def reload(self) -> None:
        for tab, page in self.pages.items():
            page.goto(self.url + tab)
            page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0",
                                   timeout=60_000)

    def ticks(self) -> float:
        """Time of the newest hub tick the status page has received (its chart keeps the
        last minute, so the count stops growing; the time does not)."""
        return self.pages["status"].evaluate(
            "() => { const t = Bokeh.documents[0].get_model_by_name('status-hub-ticks')"
            ".data.time; return t.length ? t[t.length - 1] : 0; }")

    def updating(self) -> bool:
        first = self.ticks()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.pages["status"].wait_for_timeout(200)
            if self.ticks() > first:
                return True
        return False


def logged(log: str) -> dict[str, int]:
    levels: collections.Counter[str] = collections.Counter()
    for line in log.splitlines():
        match = LOG_LINE.match(line)
        if match:
            levels[match.group(2)] += 1
    levels["Traceback"] = log.count("Traceback (most recent call last)")
    return dict(levels)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="webmon-soak-"))
    runtime = work / "run"
    runtime.mkdir(mode=0o700)
    os.environ["WEBMON_RUNTIME_DIR"] = str(runtime)
    dashboard = Dashboard(free_port(), work / "dashboard.log")
    soak = Soak(args, runtime)
    soak.producers.top_up()
    memory: list[tuple[float, int]] = []
    page_reloads = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = Pages(browser, dashboard.url)
        start = next_sample = time.monotonic()
        end = start + args.minutes * 60
        while time.monotonic() < end:
            soak.inject()
            soak.producers.top_up()
            now = time.monotonic()
            if now >= next_sample:
                next_sample = now + 5
                if dashboard.check():
                    pages.reload()
                    page_reloads += 1
                memory.append((now - start, dashboard.rss()))
                print(f"{(now - start) / 60:5.1f} min  faults {sum(soak.faults.values()):4d}  "
                      f"rss {memory[-1][1] / 2**20:6.1f} MiB", flush=True)
            pages.pages["status"].wait_for_timeout(
                max(0.0, 1000 * (1.0 - (time.monotonic() - now))))
        still_updating = pages.updating()
        soak.clean_up_own()
        time.sleep(5)  # the dashboard runs on; its sweeps remove what the kills left
        left = soak.left_behind()
        updating_after = pages.updating()
        browser.close()
    exit_code = dashboard.stop()
    log = dashboard.log_path.read_text()
    first = [rss for t, rss in memory if t < 60]
    last = [rss for t, rss in memory if t >= memory[-1][0] - 60]
    result = {
        "minutes": args.minutes, "seed": args.seed,
        "faults": dict(sorted(soak.faults.items())), "fault_count": sum(soak.faults.values()),
        "details": dict(sorted(soak.details.items())),
        "outcomes": dict(sorted(soak.outcomes.items())),
        "dashboard_restarts": len(dashboard.restarts), "dashboard_exit_code": exit_code,
        "dashboard_logged": logged(log),
        "files_left_behind": left,
        "rss_first_minute_mib": round(sum(first) / len(first) / 2**20, 1),
        "rss_last_minute_mib": round(sum(last) / len(last) / 2**20, 1),
        "page_errors": pages.errors, "page_reloads": page_reloads,
        "pages_updating_at_the_end": [still_updating, updating_after],
    }
    if args.keep_log:
        shutil.copy(dashboard.log_path, args.keep_log)
    shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep-log", type=Path, help="copy the dashboard's log here")
    args = parser.parse_args()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
