"""The block runner and window plan: parallel workers with their own readers, bounded work in
flight, errors raised in the caller, windows on tile edges."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest
from rasterio.windows import Window

from terrascan.engine.plan import plan_windows
from terrascan.engine.progress import ProgressTracker
from terrascan.engine.runner import BlockRunner


class FakeReader:
    opened: ClassVar[list[FakeReader]] = []

    def __init__(self) -> None:
        self.thread = threading.get_ident()
        self.closed = False
        FakeReader.opened.append(self)

    @property
    def band_names(self) -> tuple[str, ...]:
        return ("x",)

    def read(self, window: Window | None = None) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        self.closed = True


def test_each_worker_has_its_own_readers_and_work_in_flight_is_bounded() -> None:
    FakeReader.opened = []
    running = 0
    peak = 0
    lock = threading.Lock()

    def work(readers: Sequence[Any], window: Window) -> int:
        nonlocal running, peak
        assert readers[0].thread == threading.get_ident()
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.002)
        with lock:
            running -= 1
        return int(window.col_off)

    seen: list[int] = []
    windows = [Window(i, 0, 1, 1) for i in range(60)]
    with BlockRunner([FakeReader], workers=3, in_flight=4) as runner:
        runner.run(windows, work, lambda _w, r: seen.append(r))
    assert sorted(seen) == list(range(60))
    assert peak <= 3 and 1 <= len(FakeReader.opened) <= 3
    assert len({r.thread for r in FakeReader.opened}) == len(FakeReader.opened)
    assert all(r.closed for r in FakeReader.opened)


def test_the_first_error_stops_the_run() -> None:
    calls = 0

    def work(_readers: Sequence[Any], window: Window) -> None:
        nonlocal calls
        calls += 1
        if window.col_off == 3:
            raise ValueError("bad block")

    with BlockRunner([], workers=2, in_flight=2) as runner, pytest.raises(ValueError, match="bad"):
        runner.run([Window(i, 0, 1, 1) for i in range(1000)], work)
    assert calls < 100


@pytest.mark.parametrize(
    ("shape", "block", "first", "count"),
    [
        ((10980, 10980), (512, 512), (512, 512), 22 * 22),
        ((10980, 10980), (1024, 1024), (1024, 1024), 11 * 11),
        ((1000, 1100), (256, 256), (512, 512), 2 * 3),
        ((1300, 700), (8, 700), (512, 700), 3),
        ((300, 200), (16, 200), (300, 200), 1),
    ],
)
def test_windows_follow_output_and_input_tiles(
    shape: tuple[int, int], block: tuple[int, int], first: tuple[int, int], count: int
) -> None:
    windows = plan_windows(*shape, block)
    assert len(windows) == count
    assert (windows[0].height, windows[0].width) == first
    covered = sum(int(w.width) * int(w.height) for w in windows)
    assert covered == shape[0] * shape[1]
    for w in windows:
        assert w.col_off % 512 == 0 and w.row_off % 512 == 0
        assert w.col_off + w.width <= shape[1] and w.row_off + w.height <= shape[0]


def test_progress_over_stages_is_monotonic() -> None:
    calls: list[float] = []
    tracker = ProgressTracker(lambda f, _m: calls.append(f), [("a", 3), ("b", 1)])
    for i in range(1, 101):
        tracker.update("a", i, 100, "a")
    tracker.update("a", 50, 100, "a")  # a late, smaller report never goes back
    for i in range(1, 11):
        tracker.update("b", i, 10, "b")
    tracker.finish()
    assert calls == sorted(calls) and calls[-1] == 1.0
    assert calls[0] == pytest.approx(0.0075) and 0.74 < max(c for c in calls if c < 0.76) < 0.76
