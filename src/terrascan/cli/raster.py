"""Raster commands: index, change, zonal, correct, mask, coregister, cog.

Thin adapters over :mod:`terrascan.engine`: parse the options, show a progress bar on stderr,
print a summary (``--json``: the result's ``to_dict()`` on stdout). Mistakes in what the user
typed raise :class:`~terrascan.errors.TerraScanError` subclasses, which
:func:`terrascan.cli.app.main` turns into one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from terrascan.errors import InvalidInputError

INDEX_NAMES = ("ndvi", "ndwi", "ndbi", "evi", "nbr")
METHODS = ("diff", "cva", "postclass")
PLAIN_SUFFIXES = (".png", ".jpg", ".jpeg")

BANDS_HELP = "Band mapping of a raster file, common name = band number, e.g. red=3,nir=4."
SENSOR_HELP = (
    "Sensor profile for asset keys and scale/offset: sentinel-2-l2a, sentinel-2-l1c, "
    "landsat-c2-l2, landsat-c2-l1 (a STAC item's collection by default)."
)
OUTPUT_HELP = "Output Cloud-Optimized GeoTIFF."
JSON_HELP = "Print a machine-readable summary on stdout."
QUIET_HELP = "No progress bar."
WORKERS_HELP = "Worker threads (default: every core)."

Json = typer.Option(False, "--json", help=JSON_HELP)
Quiet = typer.Option(False, "--quiet", "-q", help=QUIET_HELP)
Workers = typer.Option(None, "--workers", min=1, max=256, help=WORKERS_HELP)
Bands = typer.Option(None, "--bands", help=BANDS_HELP)
Sensor = typer.Option(None, "--sensor", help=SENSOR_HELP)

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


@contextmanager
def progress_bar(label: str, quiet: bool) -> Iterator[Callable[[float, str], None] | None]:
    """A rich progress bar on stderr, driven by the engine's ``(fraction, message)`` calls."""
    if quiet or not stderr.is_terminal:
        yield None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[message]}"),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task(label, total=1.0, message="")

        def update(fraction: float, message: str) -> None:
            bar.update(task, completed=fraction, message=message)

        yield update


def _emit(result: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(result.to_dict(), default=_json_default))
        return
    for line in lines:
        stdout.print(line)


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _names(text: str | None) -> list[str]:
    return [part.strip().lower() for part in (text or "").split(",") if part.strip()]


def _fmt(value: float | None, digits: int = 4) -> str:
    return (
        "n/a"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (f"{value:.{digits}f}")
    )


def _source(path: str, bands: str | None, sensor: str | None, plain_ok: bool = False) -> Any:
    from terrascan.engine import RasterSource

    if Path(path).suffix.lower() in PLAIN_SUFFIXES:
        if not plain_ok:
            raise InvalidInputError(
                f"{path}: PNG/JPEG pictures have no georeferencing; only `terrascan change` "
                "accepts them"
            )
        return RasterSource(path, mapping=bands, georeferenced=False, drivers=("PNG", "JPEG"))
    return RasterSource(path, mapping=bands, sensor=sensor)


# -- commands ----------------------------------------------------------------------------


def index(
    name: str = typer.Argument(..., help="Index: ndvi, ndwi, ndbi, evi or nbr."),
    source: str = typer.Argument(..., help="Raster file or local STAC item (JSON)."),
    output: str = typer.Option(..., "--output", "-o", help=OUTPUT_HELP),
    bands: str | None = Bands,
    sensor: str | None = Sensor,
    as_json: bool = Json,
    quiet: bool = Quiet,
    workers: int | None = Workers,
) -> None:
    """Compute a spectral index (float32 COG, NaN nodata, the input's grid)."""
    from terrascan.engine import compute_index

    if name.lower() not in INDEX_NAMES:
        raise InvalidInputError(f"unknown index {name!r}; choose one of {', '.join(INDEX_NAMES)}")
    with progress_bar(name.upper(), quiet or as_json) as progress:
        result = compute_index(
            _source(source, bands, sensor), name, output, progress=progress, workers=workers
        )
    stats = result.statistics
    _emit(result, as_json, [
        f"{result.index.upper()} written to {output} ({result.output.width} x "
        f"{result.output.height}, {result.seconds:.1f} s)",
        f"  valid pixels {stats.valid_pixels:,}, min {_fmt(stats.minimum)}, "
        f"max {_fmt(stats.maximum)}, mean {_fmt(stats.mean)}, std {_fmt(stats.std)}",
    ])  # fmt: skip


def _threshold(text: str) -> float | Literal["otsu"]:
    if text.strip().lower() == "otsu":
        return "otsu"
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError(f"--threshold must be 'otsu' or a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"--threshold must be a non-negative number, got {text!r}")
    return value


def change(
    before: str = typer.Argument(..., help="Earlier raster, STAC item or PNG/JPEG picture."),
    after: str = typer.Argument(..., help="Later raster, STAC item or picture (same grid)."),
    output: str = typer.Option(..., "--output", "-o", help="Output mask COG (uint8 0/1/255)."),
    method: str = typer.Option(
        "diff", "--method", "-m", help="diff (index differencing), cva or postclass."
    ),
    index_name: str | None = typer.Option(
        None, "--index", help="Index for --method diff (default ndvi)."
    ),
    bands: str | None = Bands,
    sensor: str | None = Sensor,
    cva_bands: str | None = typer.Option(
        None,
        "--cva-bands",
        help="Bands of the change vector, e.g. red,nir,swir16 "
        "(default: every band of --bands; every band of plain files).",
    ),
    class_band: int = typer.Option(1, "--class-band", min=1, help="Class band (postclass)."),
    threshold: str = typer.Option(
        "otsu", "--threshold", "-t", help="'otsu' (global, over the scene) or a number."
    ),
    score: str | None = typer.Option(
        None, "--score", help="Also write the difference / magnitude (float32 COG)."
    ),
    direction: str | None = typer.Option(
        None, "--direction", help="Also write the CVA direction in degrees (two bands)."
    ),
    as_json: bool = Json,
    quiet: bool = Quiet,
    workers: int | None = Workers,
) -> None:
    """Detect change between two dates (uint8 COG: 0 no change, 1 change, 255 nodata)."""
    from terrascan.engine import detect_change

    if method not in METHODS:
        raise InvalidInputError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    plain = [Path(p).suffix.lower() in PLAIN_SUFFIXES for p in (before, after)]
    if any(plain) and not all(plain):
        raise InvalidInputError("compare two georeferenced rasters or two plain pictures")
    sources = [_source(p, bands, sensor, plain_ok=True) for p in (before, after)]
    names: list[str] | None = _names(cva_bands) or None
    if names is not None and method != "cva":
        raise InvalidInputError("--cva-bands applies to --method cva")
    with progress_bar(f"change ({method})", quiet or as_json) as progress:
        result = detect_change(
            sources[0], sources[1], method, output,  # type: ignore[arg-type]
            index_name=index_name, bands=names, threshold=_threshold(threshold),
            class_band=class_band, score_path=score, direction_path=direction,
            progress=progress, workers=workers,
        )  # fmt: skip
    summary = result.summary
    area = (
        f"{summary.changed_area_m2 / 1e6:,.4f} km²"
        if summary.changed_area_m2 is not None
        else f"{summary.changed_pixels:,} pixels"
    )
    threshold_text = "" if summary.threshold is None else f", threshold {summary.threshold:.6g}"
    _emit(result, as_json, [
        f"change mask written to {output} ({method}{threshold_text}, {result.seconds:.1f} s)",
        f"  changed {summary.changed_pixels:,} of {summary.valid_pixels:,} valid pixels "
        f"({_fmt((summary.changed_fraction or 0) * 100, 2)} %), {area}",
    ])  # fmt: skip


def zonal(
    source: str = typer.Argument(..., help="Raster file or local STAC item."),
    zones: str = typer.Argument(..., help="GeoJSON file of polygons."),
    band: str = typer.Option(
        "1", "--band", help="Band: a common name (with --bands/--sensor), or 1 for the first."
    ),
    bands: str | None = Bands,
    sensor: str | None = Sensor,
    id_field: str | None = typer.Option(None, "--id-field", help="Property holding zone ids."),
    percentiles: str | None = typer.Option(
        None, "--percentiles", help="Extra percentiles, e.g. 10,90."
    ),
    output: str | None = typer.Option(
        None, "--output", "-o", help="Also write the statistics as JSON to this file."
    ),
    as_json: bool = Json,
    quiet: bool = Quiet,
    workers: int | None = Workers,
) -> None:
    """Zonal statistics (count, mean, median, std, min, max, percentiles) per polygon."""
    from terrascan.engine import zonal as run_zonal

    try:
        qs = [float(q) for q in _names(percentiles)]
    except ValueError:
        raise InvalidInputError(f"--percentiles must be numbers, got {percentiles!r}") from None
    with progress_bar("zonal", quiet or as_json) as progress:
        result = run_zonal(
            _source(source, bands, sensor), zones, band.lower(), id_field=id_field,
            percentiles=qs, progress=progress, workers=workers,
        )  # fmt: skip
    if output is not None:
        Path(output).write_text(json.dumps(result.to_dict(), default=_json_default, indent=2))
    lines = [f"{'zone':>12} {'count':>10} {'mean':>10} {'median':>10} {'std':>10}"]
    for record in result.records():
        lines.append(
            f"{record['zone']!s:>12} {record['count']:>10,} {_fmt(record['mean']):>10} "
            f"{_fmt(record['median']):>10} {_fmt(record['std']):>10}"
        )
    _emit(result, as_json, lines)


def correct(
    source: str = typer.Argument(..., help="Top-of-atmosphere raster file or STAC item."),
    output: str = typer.Option(..., "--output", "-o", help=OUTPUT_HELP),
    select: str | None = typer.Option(
        None, "--select", help="Bands to correct, e.g. blue,green,red,nir (default: --bands)."
    ),
    method: str = typer.Option("dos", "--method", help="Correction: dos (dark-object)."),
    bands: str | None = Bands,
    sensor: str | None = Sensor,
    as_json: bool = Json,
    quiet: bool = Quiet,
    workers: int | None = Workers,
) -> None:
    """Atmospheric correction by dark-object subtraction (float32 COG, one band each)."""
    from terrascan.engine import correct_dos
    from terrascan.io.sensors import parse_band_mapping

    if method != "dos":
        raise InvalidInputError(f"--method must be dos, got {method!r}")
    names = _names(select) or (list(parse_band_mapping(bands)) if bands else [])
    if not names:
        raise InvalidInputError("name the bands to correct with --select (or --bands)")
    with progress_bar("correct", quiet or as_json) as progress:
        result = correct_dos(
            _source(source, bands, sensor), names, output, progress=progress, workers=workers
        )
    darks = ", ".join(f"{b} {v:.4g}" for b, v in zip(result.bands, result.dark_values, strict=True))
    _emit(result, as_json, [f"corrected bands written to {output}", f"  dark objects: {darks}"])


def mask(
    source: str = typer.Argument(..., help="Raster file or STAC item with a quality band."),
    output: str = typer.Option(..., "--output", "-o", help=OUTPUT_HELP),
    quality: str | None = typer.Option(
        None,
        "--quality",
        help="scl or qa_pixel (default: the sensor's), or s2cloudless for Sentinel-2 L1C.",
    ),
    select: str | None = typer.Option(
        None, "--select", help="Bands to write with masked pixels as NaN (default: the mask)."
    ),
    include_snow: bool = typer.Option(False, "--include-snow", help="Mask snow too."),
    cloud_resolution: float | None = typer.Option(
        None,
        "--cloud-resolution",
        min=0.0,
        help="s2cloudless: the model grid's pixel size in CRS units (default: B01's, 60 m).",
    ),
    bands: str | None = Bands,
    sensor: str | None = Sensor,
    as_json: bool = Json,
    quiet: bool = Quiet,
    workers: int | None = Workers,
) -> None:
    """Cloud/shadow/nodata mask from Sentinel-2 SCL, Landsat QA_PIXEL or s2cloudless (L1C)."""
    from terrascan.engine import detect_clouds, mask_quality

    with progress_bar("mask", quiet or as_json) as progress:
        if quality == "s2cloudless":
            result = detect_clouds(
                _source(source, bands, sensor), output, resolution=cloud_resolution,
                apply=_names(select), progress=progress, workers=workers,
            )  # fmt: skip
        else:
            result = mask_quality(
                _source(source, bands, sensor), output, quality_band=quality,
                apply=_names(select), include_snow=include_snow, progress=progress,
                workers=workers,
            )  # fmt: skip
    cloud = result.cloud_fraction
    lines = [
        f"quality mask ({result.quality_band}) written to {output}",
        f"  masked {result.masked_pixels:,} of {result.pixels - result.nodata_pixels:,} "
        f"observed pixels ({_fmt((result.masked_fraction or 0) * 100, 2)} %)",
    ]
    if cloud is not None:
        lines.append(f"  cloud fraction {_fmt(cloud * 100, 2)} %")
    _emit(result, as_json, lines)


def coregister(
    reference: str = typer.Argument(..., help="Reference raster or STAC item."),
    target: str = typer.Argument(..., help="Raster or STAC item to align onto the reference."),
    output: str = typer.Option(..., "--output", "-o", help=OUTPUT_HELP),
    band: str = typer.Option("red", "--band", help="Band to measure the shift on."),
    select: str | None = typer.Option(
        None, "--select", help="Target bands to write (default: --band)."
    ),
    bands: str | None = Bands,
    sensor: str | None = Sensor,
    as_json: bool = Json,
    quiet: bool = Quiet,
    workers: int | None = Workers,
) -> None:
    """Align a target onto a reference: sub-pixel shift by phase correlation (float32 COG)."""
    from terrascan.engine import coregister as run_coregister

    with progress_bar("coregister", quiet or as_json) as progress:
        result = run_coregister(
            _source(reference, bands, sensor), _source(target, bands, sensor), band.lower(),
            output, output_bands=_names(select), progress=progress, workers=workers,
        )  # fmt: skip
    _emit(result, as_json, [
        f"aligned target written to {output}",
        f"  shift dy {result.dy:.3f} px, dx {result.dx:.3f} px",
    ])  # fmt: skip


def cog(
    source: str = typer.Argument(..., help="GeoTIFF to convert."),
    output: str = typer.Option(..., "--output", "-o", help=OUTPUT_HELP),
    as_json: bool = Json,
    quiet: bool = Quiet,
    workers: int | None = Workers,
) -> None:
    """Rewrite a GeoTIFF as a Cloud-Optimized GeoTIFF (512 tiles, ZSTD, overviews)."""
    from terrascan.engine import convert_to_cog

    with progress_bar("cog", quiet or as_json) as progress:
        result = convert_to_cog(source, output, progress=progress, workers=workers)
    _emit(result, as_json, [
        f"COG written to {output} ({result.count} band(s) {result.dtype}, "
        f"{result.bytes / 1e6:,.1f} MB, {result.seconds:.1f} s)"
    ])  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add the raster commands to the ``terrascan`` application."""
    for command in (index, change, zonal, correct, mask, coregister, cog):
        app.command()(command)
