"""Inputs of a run: where bands come from, and readers that worker threads open for themselves.

A :class:`RasterSource` says how to open one input (a raster file, a local STAC item, or a
plain picture) and which bands to read; :meth:`RasterSource.opener` returns a function that
opens a fresh reader, so that every worker thread decodes with its own dataset handles (GDAL
handles are not shared between threads). :class:`Frame` is what a run needs to know about the
inputs' pixels: the grid (``None`` for pictures), the size and the internal block shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeAlias

import attrs
from rasterio.windows import Window

from terrascan.errors import InvalidInputError
from terrascan.io.grid import Grid
from terrascan.io.image import PLAIN_IMAGE_DRIVERS, PlainImageReader
from terrascan.io.raster import FloatArray, MultiBandReader, open_reader
from terrascan.io.sensors import parse_band_mapping
from terrascan.io.sources import (
    DEFAULT_DRIVERS,
    BandRef,
    DatasetPool,
    resolve_href,
)

SourceLike: TypeAlias = "str | Path | Mapping[str, Any] | RasterSource"
BandMapping: TypeAlias = str | Mapping[str, int]


class BlockReader(Protocol):
    """What the engine reads blocks through (MultiBandReader, PlainImageReader)."""

    @property
    def band_names(self) -> tuple[str, ...]: ...

    def read(self, window: Window | None = None) -> dict[str, FloatArray]: ...

    def close(self) -> None: ...


Opener: TypeAlias = Callable[[], BlockReader]


@attrs.frozen
class Frame:
    """The pixel frame shared by a run's inputs and outputs."""

    height: int
    width: int
    block_shape: tuple[int, int]
    grid: Grid | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def pixel_area_m2(self) -> float | None:
        """Area of one pixel in square metres, when the CRS is projected in metres."""
        if self.grid is None or not self.grid.crs.is_projected:
            return None
        units = (self.grid.crs.linear_units or "").lower()
        if units not in ("metre", "meter", "m", "metres", "meters"):
            return None
        xres, yres = self.grid.res
        return float(xres * yres)

    def same_as(self, other: Frame) -> bool:
        if (self.height, self.width) != (other.height, other.width):
            return False
        if self.grid is None or other.grid is None:
            return True
        a, b = self.grid, other.grid
        return a.crs == b.crs and a.transform.almost_equals(b.transform, precision=1e-9)


def _as_mapping(value: BandMapping | None) -> dict[str, int] | None:
    if value is None:
        return None
    return parse_band_mapping(value) if isinstance(value, str) else dict(value)


@attrs.frozen
class RasterSource:
    """One input: a raster file or a local STAC item (path or parsed), or a plain picture.

    ``mapping`` (``"red=3,nir=4"``) names the bands of a multi-band file; ``sensor`` gives
    default scale/offset and asset keys. ``georeferenced=False`` reads a picture without CRS
    (PNG/JPEG) on its own pixel grid. ``drivers`` are the only GDAL drivers used to open it.
    """

    source: str | Path | Mapping[str, Any]
    mapping: BandMapping | None = None
    sensor: str | None = None
    drivers: tuple[str, ...] = DEFAULT_DRIVERS
    georeferenced: bool = True
    allowed_hosts: tuple[str, ...] = ()
    local_roots: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        if isinstance(self.source, Mapping):
            return str(self.source.get("id", "STAC item"))
        return str(self.source)

    @property
    def is_item(self) -> bool:
        return isinstance(self.source, Mapping) or str(self.source).lower().endswith(
            (".json", ".geojson")
        )

    def path(self) -> str:
        """The local path of a raster file (not for STAC items)."""
        if self.is_item:
            raise InvalidInputError(f"{self.label} is a STAC item, not a raster file")
        return resolve_href(
            str(self.source),
            base=Path.cwd(),
            allowed_hosts=self.allowed_hosts,
            local_roots=self.local_roots,
        )

    def opener(
        self, bands: Sequence[str] | None, *, grid: Grid | None = None, categorical: bool = False
    ) -> Opener:
        """A function that opens a new reader of ``bands`` (common names), or of every band
        by index when ``bands`` is None and no mapping is set (names ``"1"``, ``"2"``, ...)."""
        if not self.georeferenced:
            return self._plain_opener(bands)
        if bands is None:
            return self._indexed_opener(grid, categorical)
        names = list(bands)

        def open_named() -> BlockReader:
            return open_reader(
                self.source,
                names,
                mapping=self.mapping,
                sensor=self.sensor,
                grid=grid,
                drivers=self.drivers,
                allowed_hosts=self.allowed_hosts,
                local_roots=self.local_roots,
            )

        return open_named

    def _plain_opener(self, bands: Sequence[str] | None) -> Opener:
        path = self.path()
        mapping = _as_mapping(self.mapping)
        if bands is None:
            chosen = sorted(mapping.items(), key=lambda kv: kv[1]) if mapping else None
        else:
            if mapping is None:
                raise InvalidInputError(
                    f"name the bands of {self.label} with a mapping such as 'red=1,nir=2'"
                )
            missing = [name for name in bands if name not in mapping]
            if missing:
                raise InvalidInputError(f"bands {missing} are not in the mapping of {self.label}")
            chosen = [(name, mapping[name]) for name in bands]
        drivers = self.drivers if self.drivers != DEFAULT_DRIVERS else PLAIN_IMAGE_DRIVERS

        def open_plain() -> BlockReader:
            return PlainImageReader(path, chosen, drivers=drivers)

        return open_plain

    def _indexed_opener(self, grid: Grid | None, categorical: bool) -> Opener:
        mapping = _as_mapping(self.mapping)
        path = self.path()

        def open_indexed() -> BlockReader:
            pool = DatasetPool(self.drivers)
            try:
                src = pool.get(path)
                if mapping:
                    pairs = sorted(mapping.items(), key=lambda kv: kv[1])
                else:
                    pairs = [(str(i), i) for i in src.indexes]
                refs = []
                for name, index in pairs:
                    if not 1 <= index <= src.count:
                        raise InvalidInputError(
                            f"band {name}={index} is out of range: {path} has {src.count} band(s)"
                        )
                    scale, offset = float(src.scales[index - 1]), float(src.offsets[index - 1])
                    if categorical:
                        scale, offset = 1.0, 0.0
                    refs.append(BandRef(name, path, index, scale, offset, None, categorical))
                return MultiBandReader(refs, pool, grid=grid)
            except Exception:
                pool.close()
                raise

        return open_indexed


def as_source(
    value: SourceLike, *, mapping: BandMapping | None = None, sensor: str | None = None
) -> RasterSource:
    """Accept a :class:`RasterSource` or a path / parsed item plus mapping and sensor."""
    if isinstance(value, RasterSource):
        if mapping is not None or sensor is not None:
            return attrs.evolve(
                value,
                mapping=mapping if mapping is not None else value.mapping,
                sensor=sensor if sensor is not None else value.sensor,
            )
        return value
    return RasterSource(value, mapping=mapping, sensor=sensor)


def frame_of(reader: BlockReader) -> Frame:
    """The frame of an open reader."""
    if isinstance(reader, MultiBandReader):
        grid = reader.grid
        return Frame(grid.height, grid.width, reader.profile.block_shape, grid)
    if isinstance(reader, PlainImageReader):
        return Frame(reader.height, reader.width, reader.block_shape, None)
    raise InvalidInputError(f"unsupported reader {type(reader).__name__}")  # pragma: no cover


def check_same_frame(frames: Sequence[Frame], labels: Sequence[str]) -> None:
    """Raise InvalidInputError unless every frame has the first one's grid and size."""
    first = frames[0]
    for frame, label in zip(frames[1:], labels[1:], strict=True):
        if (frame.height, frame.width) != (first.height, first.width):
            raise InvalidInputError(
                f"{labels[0]} is {first.width} x {first.height} pixels but {label} is "
                f"{frame.width} x {frame.height}: the inputs must have the same size"
            )
        if not first.same_as(frame):
            raise InvalidInputError(
                f"{labels[0]} and {label} are on different grids (CRS or transform differ); "
                "co-register or reproject them onto one grid first"
            )
    if any((f.grid is None) != (first.grid is None) for f in frames):
        raise InvalidInputError("cannot mix georeferenced rasters and plain images")
