"""Progress reporting: one fraction from 0 to 1 over every pass of a run, never going back.

A callback receives ``(fraction, message)``. A run is split into weighted stages (reading and
computing, a histogram pass, the final COG assembly); :class:`ProgressTracker` turns "block
``i`` of ``n`` of stage ``s`` is done" into the overall fraction and calls the callback from
the thread that drives the run, at most once per percent (and always at 1.0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeAlias

#: ``progress(fraction, message)``: fraction in [0, 1], non-decreasing over a run.
ProgressCallback: TypeAlias = Callable[[float, str], None]

_STEP = 0.01


class ProgressTracker:
    """Maps stage-local progress onto one monotonic fraction for ``callback``."""

    def __init__(
        self, callback: ProgressCallback | None, stages: Sequence[tuple[str, float]]
    ) -> None:
        total = sum(weight for _, weight in stages) or 1.0
        self._callback = callback
        self._starts: dict[str, float] = {}
        self._weights: dict[str, float] = {}
        position = 0.0
        for name, weight in stages:
            self._starts[name] = position / total
            self._weights[name] = weight / total
            position += weight
        self._reported = -1.0
        self._fraction = 0.0

    @property
    def fraction(self) -> float:
        return self._fraction

    def update(self, stage: str, done: float, total: float, message: str) -> None:
        """Report ``done`` of ``total`` units of ``stage``."""
        local = min(1.0, done / total) if total > 0 else 1.0
        fraction = self._starts[stage] + self._weights[stage] * local
        self._fraction = max(self._fraction, min(1.0, fraction))
        if self._callback is None:
            return
        if self._fraction - self._reported >= _STEP or (
            self._fraction >= 1.0 and self._reported < 1.0
        ):
            self._reported = self._fraction
            self._callback(self._fraction, message)

    def finish(self, message: str = "done") -> None:
        """Report 1.0 (once)."""
        self._fraction = 1.0
        if self._callback is not None and self._reported < 1.0:
            self._reported = 1.0
            self._callback(1.0, message)
