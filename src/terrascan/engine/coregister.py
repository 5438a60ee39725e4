"""Co-registration of a target scene onto a reference: measure the shift, resample blockwise.

The shift is measured by phase correlation (:func:`~terrascan.core.coregistration.estimate_shift`)
on one band, over the central ``window`` x ``window`` pixels of both scenes (a sub-pixel
translation is the same everywhere, and the centre avoids nodata borders). The target's bands
are then resampled onto the reference grid block by block: each block is read with a margin
of a few pixels beyond the shift, shifted with
:func:`~terrascan.core.coregistration.align_to_reference` (bilinear) and cropped, which gives
exactly the whole-array result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from terrascan.core.coregistration import align_to_reference, estimate_shift
from terrascan.engine.output import check_output, open_cog
from terrascan.engine.progress import ProgressCallback
from terrascan.engine.results import CoregistrationResult, OutputInfo
from terrascan.engine.session import Session
from terrascan.engine.sources import BandMapping, BlockReader, SourceLike, as_source
from terrascan.errors import InvalidInputError

#: Side of the central window the shift is measured on.
DEFAULT_MATCH_WINDOW = 2048


def _central(height: int, width: int, size: int) -> Window:
    rows, cols = min(size, height), min(size, width)
    return Window((width - cols) // 2, (height - rows) // 2, cols, rows)


def _padded(window: Window, margin: int, height: int, width: int) -> Window:
    col0 = max(0, int(window.col_off) - margin)
    row0 = max(0, int(window.row_off) - margin)
    col1 = min(width, int(window.col_off + window.width) + margin)
    row1 = min(height, int(window.row_off + window.height) + margin)
    return Window(col0, row0, col1 - col0, row1 - row0)


def coregister(
    reference: SourceLike,
    target: SourceLike,
    band: str,
    out_path: str | Path,
    *,
    bands: BandMapping | None = None,
    sensor: str | None = None,
    output_bands: Sequence[str] = (),
    match_window: int = DEFAULT_MATCH_WINDOW,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> CoregistrationResult:
    """Measure the sub-pixel shift of ``target`` relative to ``reference`` on ``band`` and
    write the target's ``output_bands`` (default: ``band``) resampled onto the reference grid,
    as float32 (NaN where the shifted target does not cover the grid)."""
    started = time.perf_counter()
    names = list(dict.fromkeys([*output_bands] or [band]))
    ref_src = as_source(reference, mapping=bands, sensor=sensor)
    tgt_src = as_source(target, mapping=bands, sensor=sensor)
    out = check_output(out_path, [ref_src, tgt_src])
    openers = [ref_src.opener([band]), tgt_src.opener(list(dict.fromkeys([band, *names])))]
    stages = [("match", 0.2), ("resample", 0.75), ("write", 0.05)]
    with Session(openers, [ref_src.label, tgt_src.label], progress=progress, stages=stages,
                 workers=workers) as s:  # fmt: skip
        frame = s.frame
        readers = s.readers()
        centre = _central(frame.height, frame.width, match_window)
        shift = estimate_shift(readers[0].read(centre)[band], readers[1].read(centre)[band])
        s.tracker.update("match", 1, 1, f"shift dy={shift.dy:.3f} dx={shift.dx:.3f} px")
        if not (math.isfinite(shift.dy) and math.isfinite(shift.dx)):
            raise InvalidInputError("could not measure a shift")  # pragma: no cover
        margin = max(8, math.ceil(max(abs(shift.dy), abs(shift.dx))) + 2)
        writer = open_cog(
            out, frame, count=len(names), dtype="float32", nodata=math.nan, band_names=names
        )
        with writer:

            def work(rs: Sequence[BlockReader], window: Window) -> None:
                padded = _padded(window, margin, frame.height, frame.width)
                data = rs[1].read(padded)
                r0 = int(window.row_off - padded.row_off)
                c0 = int(window.col_off - padded.col_off)
                crop = np.s_[r0 : r0 + int(window.height), c0 : c0 + int(window.width)]
                stack = np.stack([align_to_reference(data[name], shift)[crop] for name in names])
                writer.write(stack, window)

            done = 0

            def tick(_w: Window, _r: None) -> None:
                nonlocal done
                done += 1
                s.tracker.update("resample", done, len(s.windows), "resampling the target")

            s.runner.run(s.windows, work, tick)
            s.tracker.update("write", 0, 1, "writing the COG")
        s.tracker.finish("aligned target written")
    grid = frame.grid
    shift_x = shift.dx * grid.transform.a if grid is not None else None
    shift_y = shift.dy * grid.transform.e if grid is not None else None
    return CoregistrationResult(
        OutputInfo.of(out, frame), band, shift.dy, shift.dx, shift_x, shift_y,
        time.perf_counter() - started,
    )  # fmt: skip
