"""Imagery commands: ``terrascan search``, ``terrascan ingest`` and ``terrascan upload``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from terrascan.errors import InvalidInputError

_BBOX_HELP = "Area as west south east north, in degrees (EPSG:4326)."


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str))


def search(
    bbox: tuple[float, float, float, float] | None = typer.Option(
        None, metavar="W S E N", help=_BBOX_HELP
    ),
    aoi: Path | None = typer.Option(None, help="Area as a GeoJSON file (geometry or feature)."),  # noqa: B008
    datetime: str | None = typer.Option(
        None, help="Date range A/B, e.g. 2023-01-01/2023-03-31 ('..' for an open end)."
    ),
    collections: str = typer.Option(
        "sentinel-2-l2a,landsat-c2-l2", help="Comma-separated STAC collection ids."
    ),
    max_cloud: float | None = typer.Option(None, min=0, max=100, help="Maximum cloud cover, %."),
    limit: int = typer.Option(50, min=1, max=1000, help="Most scenes to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Search the STAC API (TERRASCAN_STAC_API_URL) for scenes over an area."""
    from terrascan.io.stac_client import StacClient
    from terrascan.settings import get_settings

    geometry = _area(bbox, aoi)
    with StacClient(get_settings().stac_api_url) as client:
        result = client.search(
            bbox=list(bbox) if bbox else None,
            intersects=geometry,
            datetime=datetime,
            collections=[c for c in collections.split(",") if c.strip()],
            max_cloud=max_cloud,
            limit=limit,
        )
    if as_json:
        _print_json(
            {
                "items": [s.to_dict() for s in result.scenes],
                "pages": result.pages,
                "truncated": result.truncated,
                "stop_reason": result.stop_reason,
            }
        )
        return
    _print_table(result)


def _print_table(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("collection", "date (UTC)", "cloud %", "bands")
    table.add_column("id", no_wrap=True)
    for scene in result.scenes:
        when = scene.datetime.strftime("%Y-%m-%d %H:%M") if scene.datetime else "?"
        cloud = f"{scene.cloud_cover:.1f}" if scene.cloud_cover is not None else "-"
        table.add_row(scene.collection, when, cloud, ",".join(scene.band_names), scene.id)
    console = Console()
    console.print(table)
    note = f"{len(result.scenes)} scene(s), {result.pages} page(s)"
    if result.truncated:
        note += f"; stopped early: {result.stop_reason}"
    console.print(note, highlight=False)


def _area(
    bbox: tuple[float, float, float, float] | None, aoi: Path | None
) -> dict[str, Any] | None:
    if bbox is not None and aoi is not None:
        raise InvalidInputError("give --bbox or --aoi, not both")
    if bbox is None and aoi is None:
        raise InvalidInputError("give the area with --bbox W S E N or --aoi FILE.geojson")
    return read_geojson_geometry(aoi) if aoi is not None else None


#: A GeoJSON AOI file larger than this is refused before it is parsed.
MAX_AOI_FILE_BYTES = 5 * 1024 * 1024


def read_geojson_geometry(path: Path) -> dict[str, Any]:
    """The geometry of a GeoJSON file: a geometry, a Feature, or a FeatureCollection of one
    feature."""
    try:
        size = path.stat().st_size
    except OSError:
        raise InvalidInputError(f"cannot read {path}") from None
    if size > MAX_AOI_FILE_BYTES:
        raise InvalidInputError(f"{path} is larger than {MAX_AOI_FILE_BYTES:,} bytes")
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):
        raise InvalidInputError(f"{path} is not valid GeoJSON") from None
    if isinstance(value, dict) and value.get("type") == "FeatureCollection":
        features = value.get("features") or []
        if len(features) != 1:
            raise InvalidInputError(f"{path} must hold exactly one feature, not {len(features)}")
        value = features[0]
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    if not isinstance(value, dict):
        raise InvalidInputError(f"{path} holds no GeoJSON geometry")
    return value


_ORG_HELP = "Organisation id or slug (default: the only one in the catalog)."


def _workspace(org: str | None) -> tuple[Any, Any, Any, Any]:
    """Settings, catalog (migrated when embedded), store and organisation id."""
    from terrascan.api.app import make_store
    from terrascan.catalog.database import Catalog
    from terrascan.catalog.imagery import resolve_org
    from terrascan.settings import get_settings

    settings = get_settings()
    catalog = Catalog(settings.resolved_database_url)
    if not settings.is_production:
        catalog.upgrade()
    with catalog.session() as session:
        org_id = resolve_org(session, org)
    return settings, catalog, make_store(settings), org_id


def _progress_printer(enabled: bool) -> Any:
    if not enabled:
        return lambda pct, msg: None
    from rich.console import Console

    console = Console(stderr=True)
    last = [-10.0]

    def report(pct: float, message: str) -> None:
        if pct - last[0] >= 10 or pct >= 100:
            last[0] = pct
            console.print(f"[{pct:5.1f}%] {message}", highlight=False)

    return report


def ingest(
    item_ids: list[str] = typer.Argument(..., metavar="ITEM_ID...", help="STAC item ids."),  # noqa: B008
    bbox: tuple[float, float, float, float] | None = typer.Option(
        None, metavar="W S E N", help=_BBOX_HELP
    ),
    aoi: Path | None = typer.Option(None, help="Area as a GeoJSON file (geometry or feature)."),  # noqa: B008
    bands: str | None = typer.Option(
        None, help="Comma-separated common names (default: blue,green,red,nir,swir16,swir22)."
    ),
    collections: str | None = typer.Option(
        None, help="Collections to find the items in (default: Sentinel-2 and Landsat)."
    ),
    org: str | None = typer.Option(None, help=_ORG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the catalog records as JSON."),
) -> None:
    """Ingest STAC items over an area: only the needed bands and window are read."""
    from terrascan.io.scene import AssetAccess
    from terrascan.io.stac_client import StacClient
    from terrascan.jobs.ingest import aoi_geometry, ingest_scene, record_dict

    geometry = _area(bbox, aoi)
    area = aoi_geometry(list(bbox) if bbox else None, geometry)
    chosen = [b.strip() for b in bands.split(",") if b.strip()] if bands else None
    settings, catalog, store, org_id = _workspace(org)
    wanted = [c for c in collections.split(",") if c.strip()] if collections else None
    with StacClient(settings.stac_api_url) as client:
        scenes = client.get_items(item_ids, wanted)
    records = []
    for scene in scenes:
        outcome = ingest_scene(
            scene,
            area,
            org_id=org_id,
            catalog=catalog,
            store=store,
            access=AssetAccess(tuple(settings.asset_hosts)),
            bands=chosen,
            stac_api_url=settings.stac_api_url,
            progress=_progress_printer(not as_json),
        )
        records.append({**record_dict(outcome.record), "created": outcome.created})
        if not as_json:
            verb = "ingested" if outcome.created else "already ingested"
            typer.echo(f"{scene.id}: {verb} as {outcome.record.id}")
    if as_json:
        _print_json(records)


def upload(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A GeoTIFF with a CRS."),  # noqa: B008
    bands: str | None = typer.Option(None, help="Band mapping such as red=1,green=2,nir=4."),
    name: str | None = typer.Option(None, help="A name for the imagery (default: file name)."),
    acquired: str | None = typer.Option(None, help="Acquisition date or time (YYYY-MM-DD)."),
    org: str | None = typer.Option(None, help=_ORG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the catalog record as JSON."),
) -> None:
    """Add a GeoTIFF of your own to the catalog (converted to a COG)."""
    from terrascan.io.stac_client import parse_datetime_range
    from terrascan.jobs.ingest import record_dict
    from terrascan.jobs.upload import upload_imagery

    when = parse_datetime_range(acquired)[0] if acquired else None
    settings, catalog, store, org_id = _workspace(org)
    row = upload_imagery(
        file,
        org_id=org_id,
        catalog=catalog,
        store=store,
        bands=bands,
        name=name,
        acquired=when,
        filename=file.name,
        max_bytes=settings.upload_max_bytes,
        max_pixels=settings.upload_max_pixels,
    )
    if as_json:
        _print_json(record_dict(row))
    else:
        typer.echo(f"uploaded {file.name} as {row.id} ({', '.join(row.bands['names'])})")


def register(app: typer.Typer) -> None:
    app.command()(search)
    app.command()(ingest)
    app.command()(upload)
