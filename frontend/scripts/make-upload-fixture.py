"""Write a small synthetic GeoTIFF for the browser journeys' upload step.

Four uint16 bands (blue, green, red, nir; reflectance x 10 000) of 256 x 256 pixels at 100 m in
UTM zone 29N, over the Western Sahara coast: fields of vegetation on bare ground with a lake,
so its thumbnail and footprint are easy to recognise in the screenshots.

    ../.venv/bin/python scripts/make-upload-fixture.py OUT.tif
"""

from __future__ import annotations

import sys

import numpy as np
import rasterio
from rasterio.transform import from_origin

COVERS = {  # blue, green, red, nir
    "bare": (1200, 1600, 2000, 2500),
    "vegetation": (300, 600, 350, 3800),
    "water": (700, 800, 500, 200),
}


def bands(size: int = 256) -> np.ndarray:
    v, u = np.mgrid[0:size, 0:size] / size
    field = np.sin(u * 18) * np.cos(v * 14) > 0.1
    lake = (u - 0.3) ** 2 + (v - 0.65) ** 2 < 0.03
    out = np.empty((4, size, size), dtype=np.uint16)
    for b in range(4):
        layer = np.full((size, size), COVERS["bare"][b], dtype=np.uint16)
        layer[field] = COVERS["vegetation"][b]
        layer[lake] = COVERS["water"][b]
        out[b] = layer
    return out


def main(target: str) -> None:
    data = bands()
    profile = {
        "driver": "GTiff",
        "width": data.shape[2],
        "height": data.shape[1],
        "count": data.shape[0],
        "dtype": "uint16",
        "crs": "EPSG:32629",
        "transform": from_origin(199_980, 2_800_020, 100, 100),
        "nodata": 0,
    }
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
