"""Where results go: a streaming COG writer, the output path checked against the inputs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from terrascan.engine.sources import Frame, RasterSource
from terrascan.errors import InvalidInputError
from terrascan.io.cog import OverviewResampling
from terrascan.io.cog_stream import StreamingCogWriter, streaming_available


def check_output(path: str | Path, sources: Sequence[RasterSource]) -> Path:
    """Return ``path`` as a Path; refuse a missing folder or overwriting one of the inputs."""
    out = Path(path)
    if not out.parent.is_dir():
        raise InvalidInputError(f"output folder does not exist: {out.parent}")
    if out.is_dir():
        raise InvalidInputError(f"output path is a folder: {out}")
    target = os.path.realpath(out)
    for source in sources:
        if source.is_item:
            continue
        if os.path.realpath(source.path()) == target:
            raise InvalidInputError(f"the output {out} would overwrite the input {source.label}")
    return out


def open_cog(
    path: Path,
    frame: Frame,
    *,
    count: int,
    dtype: str | np.dtype[Any],
    nodata: float | None,
    band_names: Sequence[str | None] | None = None,
    resampling: OverviewResampling = "average",
    tags: dict[str, str] | None = None,
) -> StreamingCogWriter:
    """Open a COG writer for ``frame`` (ZSTD level 1, DEFLATE if zstandard is missing)."""
    return StreamingCogWriter(
        path,
        grid=frame.grid,
        size=frame.shape,
        count=count,
        dtype=dtype,
        nodata=nodata,
        band_names=band_names,
        compress="zstd" if streaming_available("zstd") else "deflate",
        overview_resampling=resampling,
        tags=tags,
    )
