"""The offline demo: a generated pair of Sentinel-2-like scenes over one AOI.

:func:`demo_scenes` draws a 5 x 5 km valley at 10 m (UTM 32N): fields in parcels of different
crops, a forest, a lake and a river, a town with roads, and a few clouds with their shadows.
Between the two dates (May and August 2024) the land really changes: a block of new buildings
on former fields, a cleared stretch of forest, and a flooded field beside the river. Bands are
blue, green, red, nir, swir16 and swir22 as uint16 reflectance x 10000, with class spectra
typical of Sentinel-2 L2A and a little noise. Each scene comes with its scene classification
layer as Sen2Cor would deliver it (``scl``: vegetation, not vegetated, water, cloud medium and
high probability, cloud shadow), drawn from the same truth.

:func:`seed_demo` masks each scene with its SCL layer exactly as ingestion masks a real L2A
scene (:func:`terrascan.io.scene.quality_mask`: clouds, cloud shadows and cirrus become no data,
and the cloud cover is measured from it), then writes both through the upload path (the same
checks, COG conversion and catalog records as a user's own GeoTIFF) into the organisation of a
demo user, with the AOI, and does nothing when they are already there.
"""

from __future__ import annotations

import secrets
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import rasterio
from affine import Affine
from shapely.geometry import box

from terrascan.catalog.database import Catalog
from terrascan.catalog.imagery import ImageryQuery, ImagerySearchRepository
from terrascan.catalog.models import AOI
from terrascan.catalog.repositories import AOIRepository, UserRepository
from terrascan.io.scene import quality_mask
from terrascan.io.storage import ObjectStore
from terrascan.jobs.upload import upload_imagery

__all__ = ["BANDS", "DEMO_EMAIL", "DemoScene", "demo_scenes", "masked_scene", "seed_demo"]

BANDS = ("blue", "green", "red", "nir", "swir16", "swir22")
DEMO_EMAIL = "demo@terrascan.local"
SIZE = 512
RES = 10.0
CRS = "EPSG:32632"
TRANSFORM = Affine(RES, 0.0, 500000.0, 0.0, -RES, 5200000.0)
DATES = (datetime(2024, 5, 10, 10, 30, tzinfo=UTC), datetime(2024, 8, 18, 10, 30, tzinfo=UTC))

# Surface reflectance per class (blue, green, red, nir, swir16, swir22).
SPECTRA: dict[str, tuple[float, ...]] = {
    "crop": (0.035, 0.07, 0.045, 0.42, 0.22, 0.11),
    "young_crop": (0.05, 0.08, 0.08, 0.28, 0.25, 0.16),
    "bare_soil": (0.09, 0.12, 0.16, 0.24, 0.32, 0.27),
    "forest": (0.02, 0.045, 0.025, 0.33, 0.15, 0.06),
    "water": (0.06, 0.05, 0.03, 0.015, 0.008, 0.005),
    "urban": (0.11, 0.12, 0.13, 0.2, 0.24, 0.22),
    "road": (0.13, 0.14, 0.15, 0.18, 0.22, 0.21),
    "cloud": (0.55, 0.56, 0.57, 0.6, 0.45, 0.35),
}
CLASSES = tuple(SPECTRA)
#: Sen2Cor scene classes of the land classes (4 vegetation, 5 not vegetated, 6 water).
SCL_OF_CLASS = {
    "crop": 4,
    "young_crop": 4,
    "bare_soil": 5,
    "forest": 4,
    "water": 6,
    "urban": 5,
    "road": 5,
}
SCL_SHADOW, SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH = 3, 8, 9
#: Where a cloud's shadow falls (rows, columns; the sun stands in the south-east) and how
#: much light it leaves.
SHADOW_OFFSET = (-14, -20)
SHADOW_LIGHT = 0.35


@attrs.frozen(eq=False)
class DemoScene:
    acquired: datetime
    data: npt.NDArray[np.uint16]  # (6, SIZE, SIZE)
    classes: npt.NDArray[np.uint8]  # index into CLASSES, per pixel (cloud where cloudy)
    name: str
    scl: npt.NDArray[np.uint8]  # Sen2Cor scene classification of the same pixels


@attrs.frozen(eq=False)
class DemoChanges:
    """Masks of what changed between the two dates (for tests and the tour)."""

    new_buildings: npt.NDArray[np.bool_]
    cleared_forest: npt.NDArray[np.bool_]
    flooded_field: npt.NDArray[np.bool_]


def _smooth_noise(rng: np.random.Generator, scale: int) -> npt.NDArray[np.float64]:
    coarse = rng.normal(size=(SIZE // scale + 2, SIZE // scale + 2))
    fine = np.kron(coarse, np.ones((scale, scale)))[:SIZE, :SIZE]
    kernel = np.ones(scale) / scale
    fine = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, fine)
    return np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="same"), 0, fine)


def _base_map(rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    cls = {name: i for i, name in enumerate(CLASSES)}
    land = np.full((SIZE, SIZE), cls["crop"], np.uint8)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    for r0 in range(0, SIZE, 64):  # parcels with different crops
        for c0 in range(256, SIZE, 48):
            land[r0 : r0 + 62, c0 : c0 + 46] = rng.choice(
                [cls["crop"], cls["young_crop"], cls["bare_soil"]]
            )
    forest = (_smooth_noise(rng, 32) > 0.05) & (cols < 250) & (rows < 300)
    land[forest] = cls["forest"]
    land[(rows - 400) ** 2 / 60**2 + (cols - 110) ** 2 / 90**2 < 1] = cls["water"]  # lake
    river = np.abs(cols - (300 + 25 * np.sin(rows / 40.0))) < 5
    land[river] = cls["water"]
    town = (rows > 330) & (cols > 360) & (cols < 500)
    land[town & ((rows % 16 < 10) & (cols % 14 < 9))] = cls["urban"]
    land[town & ((rows % 16 >= 13) | (cols % 14 >= 12))] = cls["road"]
    return land


def _changes() -> DemoChanges:
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    new_buildings = (rows > 260) & (rows < 322) & (cols > 400) & (cols < 490)
    cleared = (rows > 40) & (rows < 140) & (cols > 60) & (cols < 160)
    flooded = (rows > 128) & (rows < 190) & (cols > 308) & (cols < 352)
    return DemoChanges(new_buildings, cleared, flooded)


def _shift(mask: npt.NDArray[np.bool_], rows: int, cols: int) -> npt.NDArray[np.bool_]:
    """``mask`` moved by ``rows`` and ``cols`` pixels (no wrap-around)."""
    out = np.zeros_like(mask)
    src_r = slice(max(0, -rows), SIZE - max(0, rows))
    dst_r = slice(max(0, rows), SIZE - max(0, -rows))
    src_c = slice(max(0, -cols), SIZE - max(0, cols))
    dst_c = slice(max(0, cols), SIZE - max(0, -cols))
    out[dst_r, dst_c] = mask[src_r, src_c]
    return out


def _sky(
    rng: np.random.Generator, land: npt.NDArray[np.uint8]
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_], npt.NDArray[np.uint8]]:
    """Clouds over ``land``: (classes seen, shadow mask, SCL layer)."""
    field = _smooth_noise(rng, 24)
    cloud, thick = field > 1.0, field > 1.15
    shadow = _shift(cloud, *SHADOW_OFFSET) & ~cloud
    seen = land.copy()
    seen[cloud] = CLASSES.index("cloud")
    lookup = np.array([SCL_OF_CLASS.get(name, 0) for name in CLASSES], np.uint8)
    scl = lookup[land]
    scl[shadow] = SCL_SHADOW
    scl[cloud] = SCL_CLOUD_MEDIUM
    scl[thick] = SCL_CLOUD_HIGH
    return seen, shadow, scl


def _render(
    classes: npt.NDArray[np.uint8], shadow: npt.NDArray[np.bool_], rng: np.random.Generator
) -> npt.NDArray[np.uint16]:
    table = np.array([SPECTRA[name] for name in CLASSES], np.float64)  # (class, band)
    values = table[classes].transpose(2, 0, 1)  # (band, row, col)
    values[:, shadow] *= SHADOW_LIGHT
    values = values * (1 + rng.normal(0, 0.04, values.shape)) + rng.normal(0, 0.004, values.shape)
    return np.clip(values * 10000, 1, 65535).astype(np.uint16)


def demo_scenes(seed: int = 2024) -> tuple[DemoScene, DemoScene, DemoChanges]:
    """The two scenes and the masks of what changed between them (deterministic)."""
    rng = np.random.default_rng(seed)
    before_land = _base_map(rng)
    changes = _changes()
    before_land[changes.new_buildings] = CLASSES.index("crop")  # one green field in May
    after_land = before_land.copy()
    after_land[changes.new_buildings] = CLASSES.index("urban")
    after_land[changes.new_buildings & (np.arange(SIZE)[None, :] % 15 >= 11)] = CLASSES.index(
        "road"
    )
    after_land[changes.cleared_forest & (before_land == CLASSES.index("forest"))] = CLASSES.index(
        "bare_soil"
    )
    after_land[changes.flooded_field] = CLASSES.index("water")
    scenes = []
    for when, land in zip(DATES, (before_land, after_land), strict=True):
        seen, shadow, scl = _sky(rng, land)
        data = _render(seen, shadow, rng)
        scenes.append(DemoScene(when, data, seen, f"Demo valley {when:%Y-%m-%d}", scl))
    return scenes[0], scenes[1], changes


def masked_scene(scene: DemoScene) -> tuple[npt.NDArray[np.uint16], float | None]:
    """The scene's bands with the pixels its SCL layer marks unusable set to 0 (the files' no
    data), and the cloud cover in percent, both as ingestion derives them from SCL."""
    invalid, cloud_cover = quality_mask(scene.scl, "scl")
    data = scene.data.copy()
    data[:, invalid] = 0
    return data, cloud_cover


def write_geotiff(scene: DemoScene, path: Path, data: npt.NDArray[np.uint16] | None = None) -> Path:
    """``scene`` (or ``data`` on its grid) as a 6-band uint16 GeoTIFF, no data 0."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=SIZE,
        height=SIZE,
        count=len(BANDS),
        dtype="uint16",
        crs=CRS,
        transform=TRANSFORM,
        nodata=0,
    ) as dst:
        dst.write(scene.data if data is None else data)
        for index, name in enumerate(BANDS, start=1):
            dst.set_band_description(index, name)
    return path


def _demo_org(catalog: Catalog) -> tuple[uuid.UUID, str | None]:
    """The demo user's organisation; the password when the user is created now."""
    from terrascan.passwords import hash_password

    with catalog.session() as session:
        users = UserRepository(session)
        user = users.get_by_email(DEMO_EMAIL)
        password = None
        if user is None:
            password = secrets.token_urlsafe(12)
            user = users.create(
                email=DEMO_EMAIL, name="Demo", password_hash=hash_password(password)
            )
        org = next(org for org, _role in users.memberships(user.id) if org.is_personal)
        return org.id, password


def seed_demo(catalog: Catalog, store: ObjectStore) -> dict[str, Any]:
    """Seed the demo user, AOI and scenes (once); return what a person needs to log in."""
    org_id, password = _demo_org(catalog)
    with catalog.session() as session:
        existing = [
            row.id
            for row in ImagerySearchRepository(session).query(
                org_id=org_id, query=ImageryQuery(providers=["demo"])
            )
        ]
    if existing:
        return {
            "email": DEMO_EMAIL,
            "password": password,
            "org_id": str(org_id),
            "imagery_ids": [str(i) for i in existing],
            "created": False,
        }
    before, after, _ = demo_scenes()
    ids = []
    with tempfile.TemporaryDirectory(prefix="terrascan-demo-") as folder:
        for scene in (before, after):
            data, cloud_cover = masked_scene(scene)
            path = write_geotiff(scene, Path(folder) / f"{scene.acquired:%Y%m%d}.tif", data)
            row = upload_imagery(
                path,
                org_id=org_id,
                catalog=catalog,
                store=store,
                name=scene.name,
                acquired=scene.acquired,
                provider="demo",
                collection="demo-sentinel-2",
                cloud_cover=cloud_cover,
                filename=path.name,
            )
            ids.append(str(row.id))
    _add_aoi(catalog, org_id, ids)
    return {
        "email": DEMO_EMAIL,
        "password": password,
        "org_id": str(org_id),
        "imagery_ids": ids,
        "created": True,
    }


def _add_aoi(catalog: Catalog, org_id: uuid.UUID, ids: list[str]) -> None:
    with catalog.session() as session:
        footprint = ImagerySearchRepository(session).get(uuid.UUID(ids[0]), org_id=org_id)
        AOIRepository(session).add(
            AOI(
                org_id=org_id,
                name="Demo valley",
                description="Generated demo area",
                geometry=box(*footprint.geometry.bounds),
                area_km2=(SIZE * RES / 1000) ** 2,
            )
        )
