"""The napari adapter's deadlines (``webmon.napari.schedule``), which import nothing of
napari: the times are given, so nothing here waits."""

from __future__ import annotations

from webmon.napari.schedule import (
    COMMAND_PERIOD_S,
    COMMANDS_BUSY_S,
    LOADER_PERIOD_S,
    WRITE_PERIOD_S,
    Schedule,
)


def test_state_is_due_once_per_interval_and_a_tick_early_counts() -> None:
    schedule = Schedule(0.2)
    assert schedule.flush_due(100.0)
    schedule.flushed(100.0)
    assert not schedule.flush_due(100.1)
    assert schedule.flush_due(100.15, early=0.05)  # a Qt timer firing a little early
    assert schedule.flush_due(100.2)


def test_writing_and_commands_are_taken_once_per_period() -> None:
    schedule = Schedule(0.2)
    assert schedule.take_write(10.0)
    assert not schedule.take_write(10.0 + WRITE_PERIOD_S / 2)
    assert schedule.take_write(10.0 + WRITE_PERIOD_S)
    assert schedule.take_commands(10.0)
    assert not schedule.take_commands(10.0 + COMMAND_PERIOD_S / 2)
    assert schedule.take_commands(10.0 + COMMAND_PERIOD_S)


def test_read_counters_wait_their_period_unless_forced() -> None:
    schedule = Schedule(0.2)
    schedule.loader_published(5.0)
    assert not schedule.loader_due(5.5)
    assert schedule.loader_due(5.5, force=True)
    assert schedule.loader_due(5.0 + LOADER_PERIOD_S)


def test_the_timer_is_busy_for_a_while_after_a_command() -> None:
    schedule = Schedule(0.2)
    assert not schedule.busy(1.0)
    schedule.commands_ran(1.0)
    assert schedule.busy(1.0 + COMMANDS_BUSY_S / 2)
    assert not schedule.busy(1.0 + COMMANDS_BUSY_S)
