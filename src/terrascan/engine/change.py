"""Change detection over whole scenes: index differencing, CVA and post-classification.

``diff`` and ``cva`` score every pixel (the index difference, the change-vector magnitude) and
threshold the score. With a given threshold that is one pass. With ``"otsu"`` it is two
reductions and a pass: the first pass computes each block's score once, keeps it in a
:class:`~terrascan.engine.scratch.BlockScratch` and accumulates the
:class:`~terrascan.core.threshold.ValueRange` of the thresholded values; the second fills a
:class:`~terrascan.core.threshold.Histogram` over that range from the kept scores; Otsu's
threshold of the merged histogram then drives the mask pass. The inputs are decoded once, and
no pass holds more than a few blocks.

``postclass`` compares two class rasters block by block, merging the from-to
:class:`~terrascan.core.change.TransitionMatrix` of every block.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np
import numpy.typing as npt
from rasterio.windows import Window

from terrascan.core.change import (
    ChangeMethod,
    ChangeSummary,
    TransitionMatrix,
    change_mask,
    cva_direction,
    cva_magnitude,
    index_difference,
    postclass_mask,
)
from terrascan.core.indices import get_index
from terrascan.core.threshold import Histogram, ValueRange, otsu_threshold
from terrascan.engine.output import check_output, open_cog
from terrascan.engine.progress import ProgressCallback
from terrascan.engine.results import ChangeResult, OutputInfo
from terrascan.engine.scratch import BlockScratch
from terrascan.engine.session import Session
from terrascan.engine.sources import BandMapping, BlockReader, RasterSource, SourceLike, as_source
from terrascan.errors import InvalidInputError
from terrascan.io.cog_stream import StreamingCogWriter

ThresholdSpec = float | Literal["otsu"]
Score = Callable[[Sequence[BlockReader], Window], npt.NDArray[np.float32]]

#: Histogram bins for Otsu (skimage.filters.threshold_otsu's default).
OTSU_BINS = 256
#: Class value standing for nodata in post-classification (never a real class read as float).
_CLASS_NODATA = -(2**31)


def _check_threshold(threshold: ThresholdSpec) -> ThresholdSpec:
    if isinstance(threshold, str):
        if threshold != "otsu":
            raise InvalidInputError(f"threshold must be 'otsu' or a number, got {threshold!r}")
        return threshold
    value = float(threshold)
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"threshold must be a non-negative number, got {threshold!r}")
    return value


def detect_change(
    before: SourceLike,
    after: SourceLike,
    method: ChangeMethod,
    out_path: str | Path,
    *,
    index_name: str | None = None,
    bands: BandMapping | Sequence[str] | None = None,
    sensor: str | None = None,
    threshold: ThresholdSpec = "otsu",
    class_band: int = 1,
    score_path: str | Path | None = None,
    direction_path: str | Path | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> ChangeResult:
    """Detect change between two co-registered rasters into a uint8 COG mask at ``out_path``
    (0 no change, 1 change, 255 nodata; the inputs' CRS and transform).

    - ``"diff"``: index ``index_name`` (default NDVI) of each date, change where
      :math:`|after - before| > t`.
    - ``"cva"``: change-vector magnitude over ``bands`` (common names, or the names of a
      ``"red=3,nir=4"`` mapping; every band of plain files when not given), change where
      magnitude :math:`> t`; ``direction_path`` adds the angle (two bands only).
    - ``"postclass"``: class rasters (band ``class_band`` of each), change where the class
      differs, with the from-to transition matrix; nodata pixels are 255 and not counted.

    ``threshold`` is a number or ``"otsu"`` (global, over the whole scene). ``score_path``
    also writes the difference or magnitude as float32. A mapping string in ``bands`` and
    ``sensor`` apply to both dates; pass :class:`RasterSource` objects to set them per date.
    """
    started = time.perf_counter()
    if method not in ("diff", "cva", "postclass"):
        raise InvalidInputError(f"method must be diff, cva or postclass, got {method!r}")
    mapping, names = _split_bands(bands)
    sources = [as_source(x, mapping=mapping, sensor=sensor) for x in (before, after)]
    out = check_output(out_path, sources)
    extra = [check_output(p, sources) for p in (score_path, direction_path) if p is not None]
    if len({str(p.resolve()) for p in [out, *extra]}) != 1 + len(extra):
        raise InvalidInputError("the outputs must be different files")
    if method == "postclass":
        if bands is not None:
            raise InvalidInputError("post-classification reads one class band: use class_band")
        result = _postclass(sources, class_band, out, progress, workers)
    else:
        result = _scored(
            sources, method, index_name, names, _check_threshold(threshold), out,
            Path(score_path) if score_path else None,
            Path(direction_path) if direction_path else None, progress, workers,
        )  # fmt: skip
    return _with_time(result, started)


def _with_time(result: ChangeResult, started: float) -> ChangeResult:
    return attrs.evolve(result, seconds=time.perf_counter() - started)


def _split_bands(
    bands: BandMapping | Sequence[str] | None,
) -> tuple[BandMapping | None, list[str] | None]:
    """A mapping (``"red=3,nir=4"`` or dict) names file bands; a list only picks bands."""
    if bands is None:
        return None, None
    if isinstance(bands, str):
        if "=" in bands:
            return bands, None
        return None, [b.strip() for b in bands.split(",") if b.strip()]
    if isinstance(bands, dict):
        return bands, None
    return None, list(bands)


def _cva_bands(source: RasterSource, names: list[str] | None) -> list[str] | None:
    """The bands of a change vector: those asked for, else the mapping's, else (plain files)
    every band."""
    if names:
        return names
    mapping = source.mapping
    if mapping is not None:
        parsed = (
            [item.split("=")[0].strip().lower() for item in mapping.split(",")]
            if isinstance(mapping, str)
            else list(mapping)
        )
        return parsed
    if source.is_item:
        raise InvalidInputError("name the bands of the change vector, e.g. --cva-bands red,nir")
    return None


def _scorer(
    sources: list[RasterSource],
    method: ChangeMethod,
    index_name: str | None,
    names: list[str] | None,
) -> tuple[list[Any], Score, str | None, tuple[str, ...], bool]:
    """Openers, the per-block score function, the index, the bands, and whether |score|."""
    if method == "diff":
        definition = get_index(index_name or "ndvi")
        openers = [s.opener(list(definition.bands)) for s in sources]

        def difference(readers: Sequence[BlockReader], window: Window) -> npt.NDArray[np.float32]:
            before = definition.compute(readers[0].read(window))
            after = definition.compute(readers[1].read(window))
            return index_difference(before, after, out=after)

        return openers, difference, definition.name, definition.bands, True
    if index_name is not None:
        raise InvalidInputError("--index applies to the diff method only")
    chosen = _cva_bands(sources[0], names)
    openers = [s.opener(chosen) for s in sources]

    def magnitude(readers: Sequence[BlockReader], window: Window) -> npt.NDArray[np.float32]:
        b, a = readers[0].read(window), readers[1].read(window)
        return cva_magnitude(list(b.values()), list(a.values()))

    return openers, magnitude, None, tuple(chosen or ()), False


def _scored(
    sources: list[RasterSource],
    method: ChangeMethod,
    index_name: str | None,
    names: list[str] | None,
    threshold: ThresholdSpec,
    out: Path,
    score_path: Path | None,
    direction_path: Path | None,
    progress: ProgressCallback | None,
    workers: int | None,
) -> ChangeResult:
    openers, score, index, band_names, absolute = _scorer(sources, method, index_name, names)
    otsu = threshold == "otsu"
    stages = (
        [("score", 0.6), ("histogram", 0.1), ("mask", 0.25), ("write", 0.05)]
        if otsu
        else [("mask", 0.95), ("write", 0.05)]
    )
    labels = [s.label for s in sources]
    with Session(openers, labels, progress=progress, stages=stages, workers=workers) as s:
        if not band_names:
            band_names = s.band_names[0]
        if s.band_names[0] != s.band_names[1]:
            raise InvalidInputError(
                f"the dates have different bands: {list(s.band_names[0])} and "
                f"{list(s.band_names[1])}"
            )
        if direction_path is not None and (method != "cva" or len(s.band_names[0]) != 2):
            raise InvalidInputError("the CVA direction needs the cva method and exactly 2 bands")
        area = s.frame.pixel_area_m2
        with BlockScratch(out.parent if otsu else None) as scratch:
            if otsu:
                t = _otsu_passes(s, score, scratch, absolute)
                source_of_score: Score = lambda _r, w: scratch.get(w)  # noqa: E731
            else:
                t = float(threshold)
                source_of_score = score
            summary = _mask_pass(
                s, source_of_score, t, absolute, method, area, out, score_path, direction_path
            )
        s.tracker.finish("change mask written")
    return ChangeResult(
        OutputInfo.of(out, s.frame), summary, index=index, bands=tuple(band_names),
        score=score_path, direction=direction_path,
    )  # fmt: skip


def _otsu_passes(s: Session, score: Score, scratch: BlockScratch, absolute: bool) -> float:
    """Pass 1: score every block once, keep it, accumulate the value range; pass 2: histogram
    of the kept scores. Returns Otsu's threshold (Otsu, 1979)."""
    total = len(s.windows)

    def first(readers: Sequence[BlockReader], window: Window) -> ValueRange:
        values = score(readers, window)
        scratch.put(window, values)
        return ValueRange().update(np.abs(values) if absolute else values)

    value_range = ValueRange()
    done = 0

    def merge_range(_w: Window, part: ValueRange) -> None:
        nonlocal value_range, done
        value_range = value_range.merge(part)
        done += 1
        s.tracker.update("score", done, total, "scoring blocks")

    s.runner.run(s.windows, first, merge_range)
    if value_range.empty:
        raise InvalidInputError("no valid pixel in both dates: nothing to threshold")
    if value_range.minimum == value_range.maximum:
        return value_range.minimum
    histogram = Histogram.from_range(value_range, OTSU_BINS)

    def second(_readers: Sequence[BlockReader], window: Window) -> Histogram:
        values = scratch.get(window)
        part = Histogram(histogram.lower, histogram.upper, histogram.bins)
        return part.update(np.abs(values) if absolute else values)

    done = 0

    def merge_histogram(_w: Window, part: Histogram) -> None:
        nonlocal histogram, done
        histogram = histogram.merge(part)
        done += 1
        s.tracker.update("histogram", done, total, "histogram for Otsu")

    s.runner.run(s.windows, second, merge_histogram)
    return otsu_threshold(histogram)


def _mask_pass(
    s: Session,
    score: Score,
    threshold: float,
    absolute: bool,
    method: ChangeMethod,
    area: float | None,
    out: Path,
    score_path: Path | None,
    direction_path: Path | None,
) -> ChangeSummary:
    writers: list[StreamingCogWriter] = []
    try:
        mask_writer = open_cog(
            out, s.frame, count=1, dtype="uint8", nodata=255, band_names=["change"],
            resampling="nearest", tags={"threshold": repr(threshold), "method": method},
        )  # fmt: skip
        writers.append(mask_writer)
        score_writer = direction_writer = None
        if score_path is not None:
            name = "difference" if method == "diff" else "magnitude"
            score_writer = open_cog(
                score_path, s.frame, count=1, dtype="float32", nodata=math.nan, band_names=[name]
            )
            writers.append(score_writer)
        if direction_path is not None:
            direction_writer = open_cog(
                direction_path, s.frame, count=1, dtype="float32", nodata=math.nan,
                band_names=["direction"],
            )  # fmt: skip
            writers.append(direction_writer)

        def work(readers: Sequence[BlockReader], window: Window) -> ChangeSummary:
            values = score(readers, window)
            mask = change_mask(values, threshold, absolute=absolute)
            mask_writer.write(mask[np.newaxis], window)
            if score_writer is not None:
                score_writer.write(values[np.newaxis], window)
            if direction_writer is not None:
                b, a = readers[0].read(window), readers[1].read(window)
                angle = cva_direction(list(b.values()), list(a.values()))
                direction_writer.write(angle[np.newaxis], window)
            return ChangeSummary.from_mask(mask, method, threshold, area)

        summary = ChangeSummary(method, threshold, 0, 0, area)
        done = 0

        def collect(_w: Window, part: ChangeSummary) -> None:
            nonlocal summary, done
            summary = summary.merge(part)
            done += 1
            s.tracker.update("mask", done, len(s.windows), "writing the change mask")

        s.runner.run(s.windows, work, collect)
        s.tracker.update("write", 0, 1, "writing the COG")
        for writer in writers:
            writer.close()
        return summary
    except BaseException:
        for writer in writers:
            writer.abort()
        raise


def _postclass(
    sources: list[RasterSource],
    class_band: int,
    out: Path,
    progress: ProgressCallback | None,
    workers: int | None,
) -> ChangeResult:
    for source in sources:
        if source.is_item:
            raise InvalidInputError("post-classification needs class rasters, not STAC items")
    if isinstance(class_band, bool) or not isinstance(class_band, int) or class_band < 1:
        raise InvalidInputError(f"class_band must be a band number >= 1, got {class_band!r}")
    openers = [
        attrs.evolve(s, mapping={"classes": class_band}).opener(None, categorical=True)
        for s in sources
    ]
    stages = [("mask", 0.95), ("write", 0.05)]
    labels = [s.label for s in sources]
    with Session(openers, labels, progress=progress, stages=stages, workers=workers) as s:
        area = s.frame.pixel_area_m2
        writer = open_cog(
            out, s.frame, count=1, dtype="uint8", nodata=255, band_names=["change"],
            resampling="nearest", tags={"method": "postclass"},
        )  # fmt: skip
        with writer:

            def work(readers: Sequence[BlockReader], window: Window) -> TransitionMatrix:
                before = _classes(readers[0].read(window)["classes"])
                after = _classes(readers[1].read(window)["classes"])
                mask = postclass_mask(before, after, nodata=_CLASS_NODATA)
                writer.write(mask[np.newaxis], window)
                return TransitionMatrix.from_arrays(before, after, nodata=_CLASS_NODATA)

            matrix = TransitionMatrix((), np.zeros((0, 0), np.int64))
            done = 0

            def collect(_w: Window, part: TransitionMatrix) -> None:
                nonlocal matrix, done
                matrix = matrix.merge(part)
                done += 1
                s.tracker.update("mask", done, len(s.windows), "comparing classes")

            s.runner.run(s.windows, work, collect)
            s.tracker.update("write", 0, 1, "writing the COG")
        s.tracker.finish("change mask written")
    summary = ChangeSummary("postclass", None, matrix.changed_pixels, matrix.valid_pixels, area)
    return ChangeResult(OutputInfo.of(out, s.frame), summary, transitions=matrix)


def _classes(values: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """Class values read as float32 (NaN for nodata) back to integers, nodata marked."""
    invalid = ~np.isfinite(values)
    classes = np.where(invalid, 0, values).astype(np.int64)
    classes[invalid] = _CLASS_NODATA
    return classes
