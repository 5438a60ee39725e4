"""Analysis job types: ``spectral-index`` and ``change-detection``.

Each runner reads its inputs from the catalog (the job's organisation only), copies the stored
COGs into a scratch folder, runs the :mod:`terrascan.engine` operation there and puts the
outputs in the store under the attempt's keys (``ctx.output(name)``). Change detection first
brings the two scenes onto one grid (sub-pixel co-registration when the grids already match,
otherwise a reprojection of the after scene onto the before grid) and afterwards stores the
changed regions as polygons with their area in ``vector_features``.

With an ``aoi_id`` (an AOI of the job's organisation) the inputs are first cropped to the AOI's
bounding window with NaN outside its polygon (:mod:`terrascan.jobs.areas`), so the result covers
that window only, is nodata outside the polygon, and global statistics (Otsu thresholds, counts)
describe the AOI alone.
"""

from __future__ import annotations

import math
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from terrascan.catalog.models import ImagerySource, ImageryStatus, VectorFeature
from terrascan.catalog.repositories import ImageryRepository, VectorFeatureRepository
from terrascan.errors import InvalidInputError
from terrascan.jobs.areas import aoi_geometry, crop_to_area
from terrascan.jobs.context import JobContext
from terrascan.jobs.fanout import Window, split_rows
from terrascan.jobs.registry import JobRegistry

__all__ = [
    "ChangeDetectionSpec",
    "SpectralIndexSpec",
    "register",
    "run_change_detection",
    "run_spectral_index",
]

IndexName = Literal["ndvi", "ndwi", "ndbi", "evi", "nbr"]
#: Changed regions stored per job at most (the largest first).
MAX_CHANGE_POLYGONS = 5000
#: Rows of input per part of a split spectral index (a multiple of the COG tile height, 512).
ROWS_PER_PART = 2048
MAX_PARTS = 256
#: Where the input of a split job's parts lies, under the attempt's prefix (when it was made
#: by the job: an AOI crop; otherwise the parts read the stored scene).
PART_INPUT = "parts/input.tif"
#: Band used to measure the shift between the two dates, in order of preference.
MATCH_BANDS = ("nir", "red", "green", "blue")


class SpectralIndexSpec(BaseModel):
    """Compute one spectral index of one ready imagery record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    imagery_id: uuid.UUID
    index_name: IndexName
    #: Clip the result to this AOI of the organisation (nodata outside its polygon).
    aoi_id: uuid.UUID | None = None
    #: Row bands computed as parts, spread over the workers (Celery) and merged into one COG;
    #: by default one per :data:`ROWS_PER_PART` rows of the input (a whole Sentinel-2 scene at
    #: 10 m gives 6). 1 computes the index in one piece.
    parts: int | None = Field(default=None, ge=1, le=MAX_PARTS)


class ChangeDetectionSpec(BaseModel):
    """Change between two ready imagery records (``diff`` of an index, ``cva``, ``postclass``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    imagery_id_before: uuid.UUID
    imagery_id_after: uuid.UUID
    method: Literal["diff", "cva", "postclass"] = "diff"
    index_name: IndexName | None = None
    threshold: float | Literal["otsu"] = "otsu"
    coregister: bool = True
    #: Clip the result to this AOI of the organisation (nodata outside its polygon).
    aoi_id: uuid.UUID | None = None

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float | str) -> float | str:
        if isinstance(value, float | int) and (not math.isfinite(value) or value < 0):
            raise ValueError("threshold must be 'otsu' or a finite non-negative number")
        return value

    @model_validator(mode="after")
    def _two_scenes(self) -> ChangeDetectionSpec:
        if self.imagery_id_before == self.imagery_id_after:
            raise ValueError("the before and after scenes must be different records")
        return self


# --------------------------------------------------------------------------- inputs


def _scene(ctx: JobContext, imagery_id: uuid.UUID) -> ImagerySource:
    if ctx.catalog is None:
        raise InvalidInputError("analysis jobs need the catalog")
    with ctx.catalog.session() as session:
        row = ImageryRepository(session).get(imagery_id, org_id=ctx.org_id)
        session.expunge(row)
    if row.status != ImageryStatus.READY or not row.storage_key:
        raise InvalidInputError(f"imagery {imagery_id} is not ready")
    return row


def _band_names(row: ImagerySource) -> list[str]:
    return [str(n) for n in (row.bands or {}).get("names", [])]


def _mapping(names: list[str]) -> dict[str, int]:
    return {name: index for index, name in enumerate(names, start=1)}


def _fetch(ctx: JobContext, key: str, target: Path) -> Path:
    with target.open("wb") as fh:
        for chunk in ctx.store.stream(key):
            fh.write(chunk)
    return target


def _local_input(ctx: JobContext, key: str, folder: Path) -> Path:
    """A local file of stored object ``key``: the store's own file when it is a local folder
    (read in place, never written), else a copy in ``folder``."""
    location = ctx.store.gdal_path(key)
    if not location.env_kwargs() and Path(location.path).is_file():
        return Path(location.path)
    return _fetch(ctx, key, folder / "input.tif")


def _put(ctx: JobContext, path: Path, name: str, *, primary: bool = False) -> str:
    key = ctx.output(name, primary=primary)
    with path.open("rb") as fh:
        ctx.store.put(key, fh)
    return key


def _progress(ctx: JobContext, start: float, span: float) -> Any:
    def report(fraction: float, message: str) -> None:
        ctx.check_cancelled()
        ctx.progress(start + span * max(0.0, min(1.0, fraction)), message)

    return report


@contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="terrascan-analysis-") as folder:
        yield Path(folder)


# --------------------------------------------------------------------------- spectral index


def run_spectral_index(spec: SpectralIndexSpec, ctx: JobContext) -> dict[str, Any]:
    """The ``spectral-index`` runner: a float32 COG (NaN nodata) and its statistics.

    A large input is computed as row bands (:func:`spectral_index_part`, on every worker under
    Celery) merged into one COG, identical to the single run.
    """
    from terrascan.engine import compute_index

    row = _scene(ctx, spec.imagery_id)
    area: dict[str, Any] = {}
    with _scratch() as folder:
        if spec.aoi_id is None:
            source = _local_input(ctx, str(row.storage_key), folder)
        else:
            source = folder / "scene-aoi.tif"
            location = ctx.store.gdal_path(str(row.storage_key))
            clip = crop_to_area(
                location.path, source, aoi_geometry(ctx, spec.aoi_id), env=location.env_kwargs()
            )
            area = {"aoi": _aoi_summary(spec.aoi_id, clip.pixels)}
        ctx.progress(5.0, "inputs fetched")
        out = folder / f"{spec.index_name}.tif"
        windows = _part_windows(source, spec)
        if len(windows) > 1:
            result = _split_index(ctx, spec, row, source, windows, out)
            area["parts"] = len(windows)
        else:
            result = compute_index(
                source,
                spec.index_name,
                out,
                bands=_mapping(_band_names(row)),
                progress=_progress(ctx, 5.0, 85.0),
            )
        key = _put(ctx, out, f"{spec.index_name}.tif", primary=True)
    summary = result.to_dict()
    output = summary.pop("output")
    output.pop("path", None)
    return {**summary, **area, "output": output, "result_key": key, "kind": "index"}


def _part_windows(source: Path | str, spec: SpectralIndexSpec) -> list[Window]:
    """Row bands of the index input: ``spec.parts`` of them, or one per ROWS_PER_PART rows."""
    import rasterio

    with rasterio.open(source, driver="GTiff") as src:
        height, width = src.height, src.width
    parts = spec.parts or math.ceil(height / ROWS_PER_PART)
    return split_rows(height, width, parts, align=512)


def _split_index(
    ctx: JobContext,
    spec: SpectralIndexSpec,
    row: ImagerySource,
    source: Path,
    windows: list[Window],
    out: Path,
) -> Any:
    """Compute the parts (fanned out), then merge them into ``out`` in row order."""
    import io

    import numpy as np

    from terrascan.engine.index import merge_index_parts

    if spec.aoi_id is not None:  # the parts read the crop made here
        with source.open("rb") as fh:
            ctx.store.put(ctx.prefix + PART_INPUT, fh)
    ctx.run_parts(len(windows))
    ctx.progress(90.0, "merging the parts")

    def parts() -> Iterator[tuple[int, Any]]:
        for index, window in enumerate(windows):
            ctx.check_cancelled()
            data = ctx.store.get(ctx.part_key(index, "index.npy"))
            yield window.row_off, np.load(io.BytesIO(data), allow_pickle=False)

    return merge_index_parts(
        source, spec.index_name, parts(), out, bands=_mapping(_band_names(row))
    )


def spectral_index_part(spec: SpectralIndexSpec, index: int, ctx: JobContext) -> None:
    """Part ``index`` of a split spectral index: its row band, saved as ``index.npy``."""
    import io

    import numpy as np

    from terrascan.engine.index import index_rows

    row = _scene(ctx, spec.imagery_id)
    key = ctx.prefix + PART_INPUT if spec.aoi_id is not None else str(row.storage_key)
    with _scratch() as folder:
        source = _local_input(ctx, key, folder)
        window = _part_windows(source, spec)[index]
        values = index_rows(
            source,
            spec.index_name,
            (window.row_off, window.row_off + window.height),
            bands=_mapping(_band_names(row)),
        )
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    ctx.store.put(ctx.part_key(index, "index.npy"), buffer.getvalue())


def _aoi_summary(aoi_id: uuid.UUID, pixels: int) -> dict[str, Any]:
    return {"id": str(aoi_id), "pixels": pixels}


def _crop_pair(
    ctx: JobContext, aoi_id: uuid.UUID, before: Path, after: Path, folder: Path
) -> tuple[Path, Path, dict[str, Any]]:
    """Both scenes (already on one grid) cropped to the AOI, NaN outside its polygon."""
    area = aoi_geometry(ctx, aoi_id)
    cropped = folder / "before-aoi.tif", folder / "after-aoi.tif"
    clip = crop_to_area(str(before), cropped[0], area)
    crop_to_area(str(after), cropped[1], area)
    return cropped[0], cropped[1], {"aoi": _aoi_summary(aoi_id, clip.pixels)}


# --------------------------------------------------------------------------- change detection


def _same_grid(before: Path, after: Path) -> bool:
    import rasterio

    with rasterio.open(before, driver="GTiff") as a, rasterio.open(after, driver="GTiff") as b:
        return bool(
            a.crs == b.crs and a.transform.almost_equals(b.transform) and a.shape == b.shape
        )


def _reproject_onto(before: Path, after: Path, names: list[str], out: Path) -> Path:
    """Write ``after`` resampled (bilinear) onto the grid of ``before`` (float32, NaN nodata)."""
    import numpy as np
    import rasterio
    from rasterio.warp import Resampling, reproject

    with rasterio.open(before, driver="GTiff") as ref, rasterio.open(after, driver="GTiff") as src:
        profile = {
            "driver": "GTiff",
            "width": ref.width,
            "height": ref.height,
            "count": src.count,
            "dtype": "float32",
            "crs": ref.crs,
            "transform": ref.transform,
            "nodata": math.nan,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
        }
        with rasterio.open(out, "w", **profile) as dst:
            for band in range(1, src.count + 1):
                target = np.full((ref.height, ref.width), np.nan, dtype="float32")
                reproject(
                    src.read(band).astype("float32"),
                    target,
                    src_transform=src.transform,
                    src_crs=src.crs,
                    src_nodata=src.nodata,
                    dst_transform=ref.transform,
                    dst_crs=ref.crs,
                    dst_nodata=math.nan,
                    resampling=Resampling.bilinear,
                )
                dst.write(target, band)
                if band <= len(names):
                    dst.set_band_description(band, names[band - 1])
    return out


def _align(ctx: JobContext, spec: ChangeDetectionSpec, before: Path, after: Path,
           names: list[str], folder: Path) -> tuple[Path, dict[str, Any]]:  # fmt: skip
    """The after scene on the before grid, and how it got there."""
    from terrascan.engine import coregister

    if not _same_grid(before, after):
        out = _reproject_onto(before, after, names, folder / "after-aligned.tif")
        return out, {"alignment": "reprojected"}
    if not spec.coregister or spec.method == "postclass":
        return after, {"alignment": "none"}
    band = next((b for b in MATCH_BANDS if b in names), names[0])
    out = folder / "after-coregistered.tif"
    result = coregister(
        before, after, band, out, bands=_mapping(names), output_bands=names,
        progress=_progress(ctx, 5.0, 25.0),
    )  # fmt: skip
    info = result.to_dict()
    return out, {
        "alignment": "coregistered",
        "shift_px": [info["dy_pixels"], info["dx_pixels"]],
    }


def run_change_detection(spec: ChangeDetectionSpec, ctx: JobContext) -> dict[str, Any]:
    """The ``change-detection`` runner: a uint8 mask COG (0/1/255), the score as float32, and
    the changed regions as polygons in ``vector_features``."""
    from terrascan.engine import detect_change
    from terrascan.engine.sources import RasterSource

    rows = _scene(ctx, spec.imagery_id_before), _scene(ctx, spec.imagery_id_after)
    names = [_band_names(r) for r in rows]
    common = [n for n in names[0] if n in names[1]]
    if spec.method != "postclass" and not common:
        raise InvalidInputError("the two scenes share no named band")
    with _scratch() as folder:
        before = _fetch(ctx, str(rows[0].storage_key), folder / "before.tif")
        after = _fetch(ctx, str(rows[1].storage_key), folder / "after.tif")
        ctx.progress(5.0, "inputs fetched")
        aligned, alignment = _align(ctx, spec, before, after, names[1], folder)
        if spec.aoi_id is not None:
            before, aligned, cropped = _crop_pair(ctx, spec.aoi_id, before, aligned, folder)
            alignment.update(cropped)
        named = spec.method != "postclass"
        sources = [
            RasterSource(path, mapping=_mapping(n) if named else None)
            for path, n in ((before, names[0]), (aligned, names[1]))
        ]
        mask, score = folder / "change.tif", folder / "score.tif"
        index = spec.index_name or ("ndvi" if spec.method == "diff" else None)
        result = detect_change(
            sources[0], sources[1], spec.method, mask,
            index_name=index,
            bands=common if spec.method == "cva" else None,
            threshold=spec.threshold,
            score_path=score if spec.method != "postclass" else None,
            progress=_progress(ctx, 30.0, 55.0),
        )  # fmt: skip
        key = _put(ctx, mask, "change.tif", primary=True)
        score_key = _put(ctx, score, "score.tif") if score.exists() else None
        ctx.progress(88.0, "vectorising changed regions")
        regions = _store_regions(ctx, mask)
    summary = result.to_dict()
    output = summary.pop("output")
    output.pop("path", None)
    summary.pop("score", None)
    summary.pop("direction", None)
    return {
        **summary,
        **alignment,
        "output": output,
        "result_key": key,
        "score_key": score_key,
        "regions": regions,
        "kind": "change",
    }


def _regions(mask_path: Path) -> list[tuple[dict[str, Any], float, int]]:
    """``(geometry in EPSG:4326, area in m², pixels)`` of each changed region, largest first."""
    import numpy as np
    import pyproj
    import rasterio
    from rasterio.features import shapes
    from rasterio.warp import transform_geom
    from shapely.geometry import shape

    geod = pyproj.Geod(ellps="WGS84")
    with rasterio.open(mask_path, driver="GTiff") as src:
        data = src.read(1)
        changed = data == 1
        if src.crs is None:
            return []
        found = []
        for geom, _value in shapes(changed.astype(np.uint8), mask=changed, transform=src.transform):
            lonlat = transform_geom(src.crs, "EPSG:4326", geom)
            area = abs(geod.geometry_area_perimeter(shape(lonlat))[0])
            pixels = round(shape(geom).area / abs(src.transform.a * src.transform.e))
            found.append((lonlat, float(area), int(pixels)))
    found.sort(key=lambda item: -item[1])
    return found[:MAX_CHANGE_POLYGONS]


def _store_regions(ctx: JobContext, mask_path: Path) -> dict[str, Any]:
    from shapely.geometry import shape

    found = _regions(mask_path)
    if ctx.catalog is None:
        return {"count": len(found), "area_m2": sum(a for _g, a, _p in found)}
    with ctx.catalog.session() as session:
        repo = VectorFeatureRepository(session)
        for old in repo.for_job(ctx.job_id, org_id=ctx.org_id):  # an earlier attempt's
            session.delete(old)
        session.flush()
        session.add_all(
            VectorFeature(
                org_id=ctx.org_id,
                job_id=ctx.job_id,
                geometry=shape(geom),
                properties={"kind": "change", "area_m2": round(area, 3), "pixels": pixels},
            )
            for geom, area, pixels in found
        )
    return {
        "count": len(found),
        "area_m2": round(sum(a for _g, a, _p in found), 3),
        "capped": len(found) >= MAX_CHANGE_POLYGONS,
    }


def register(registry: JobRegistry) -> None:
    """The analysis job types: these two, ``zonal-stats`` and ``timeseries``."""
    from terrascan.jobs import timeseries, zonal

    registry.register(
        "spectral-index", SpectralIndexSpec, run_spectral_index, part=spectral_index_part
    )
    registry.register("change-detection", ChangeDetectionSpec, run_change_detection)
    zonal.register(registry)
    timeseries.register(registry)
