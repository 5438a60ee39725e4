"""Dark-object subtraction over whole scenes (Chavez, 1988), in three passes.

Pass 1 finds each band's value range, pass 2 fills a fine histogram per band over it (the dark
object is the lowest value whose cumulative count reaches a small share of the valid pixels,
:func:`~terrascan.core.correction.dark_object_value_from_histogram`), pass 3 subtracts it and
clips at zero, writing a float32 COG with one band per input band.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from terrascan.core.correction import (
    DEFAULT_DARK_FRACTION,
    dark_object_value_from_histogram,
    subtract_dark_object,
)
from terrascan.core.threshold import Histogram, ValueRange
from terrascan.engine.output import check_output, open_cog
from terrascan.engine.progress import ProgressCallback
from terrascan.engine.results import CorrectionResult, OutputInfo
from terrascan.engine.session import Session
from terrascan.engine.sources import BandMapping, BlockReader, SourceLike, as_source
from terrascan.errors import InvalidInputError

#: Histogram bins for the dark object: about 1e-4 reflectance over a 0..1.6 range.
DOS_BINS = 16384


def correct_dos(
    source: SourceLike,
    band_names: Sequence[str],
    out_path: str | Path,
    *,
    bands: BandMapping | None = None,
    sensor: str | None = None,
    fraction: float = DEFAULT_DARK_FRACTION,
    count: int | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> CorrectionResult:
    """Dark-object subtraction of ``band_names`` (common names) of a top-of-atmosphere
    product; writes the corrected reflectance as a float32 COG (NaN nodata), one band each.

    The dark object of a band is at most one histogram bin (range / 16384) below the exact
    k-th smallest value, so the haze is never over-estimated.
    """
    started = time.perf_counter()
    names = list(dict.fromkeys(band_names))
    if not names:
        raise InvalidInputError("name the bands to correct")
    src = as_source(source, mapping=bands, sensor=sensor)
    out = check_output(out_path, [src])
    stages = [("range", 0.3), ("histogram", 0.3), ("subtract", 0.35), ("write", 0.05)]
    with Session([src.opener(names)], [src.label], progress=progress, stages=stages,
                 workers=workers) as s:  # fmt: skip
        total = len(s.windows)
        ranges = {name: ValueRange() for name in names}

        def first(readers: Sequence[BlockReader], window: Window) -> dict[str, ValueRange]:
            data = readers[0].read(window)
            return {name: ValueRange().update(data[name]) for name in names}

        done = 0

        def merge_ranges(_w: Window, part: dict[str, ValueRange]) -> None:
            nonlocal done
            for name in names:
                ranges[name] = ranges[name].merge(part[name])
            done += 1
            s.tracker.update("range", done, total, "value ranges")

        s.runner.run(s.windows, first, merge_ranges)
        empty = [name for name in names if ranges[name].empty]
        if empty:
            raise InvalidInputError(f"bands {empty} have no valid pixel")
        histograms = {name: Histogram.from_range(ranges[name], DOS_BINS) for name in names}

        def second(readers: Sequence[BlockReader], window: Window) -> dict[str, Histogram]:
            data = readers[0].read(window)
            return {
                name: Histogram(h.lower, h.upper, h.bins).update(data[name])
                for name, h in histograms.items()
            }

        done = 0

        def merge_histograms(_w: Window, part: dict[str, Histogram]) -> None:
            nonlocal done
            for name in names:
                histograms[name] = histograms[name].merge(part[name])
            done += 1
            s.tracker.update("histogram", done, total, "histograms")

        s.runner.run(s.windows, second, merge_histograms)
        darks = {
            name: dark_object_value_from_histogram(histograms[name], fraction=fraction, count=count)
            for name in names
        }
        writer = open_cog(
            out, s.frame, count=len(names), dtype="float32", nodata=math.nan, band_names=names
        )
        with writer:

            def third(readers: Sequence[BlockReader], window: Window) -> None:
                data = readers[0].read(window)
                stack = np.stack([data[name] for name in names])
                for i, name in enumerate(names):
                    subtract_dark_object(stack[i], darks[name], out=stack[i])
                writer.write(stack, window)

            done = 0

            def tick(_w: Window, _r: None) -> None:
                nonlocal done
                done += 1
                s.tracker.update("subtract", done, total, "subtracting the dark objects")

            s.runner.run(s.windows, third, tick)
            s.tracker.update("write", 0, 1, "writing the COG")
        s.tracker.finish("corrected bands written")
    return CorrectionResult(
        OutputInfo.of(out, s.frame), tuple(names), tuple(darks[n] for n in names),
        time.perf_counter() - started,
    )  # fmt: skip
