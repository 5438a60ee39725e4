"""Block-wise execution of core operations over rasters too large for memory.

The functions here are what the command line, the API and job runners call. Each opens its
inputs (raster files, local STAC items, plain pictures for change detection), checks them
before any pixel is computed, runs a :mod:`terrascan.core` operation block by block on every
core with bounded memory, writes a Cloud-Optimized GeoTIFF and returns a result with
``to_dict()``. Every function takes ``progress=callback(fraction, message)`` and
``workers=`` (default: all cores).

- :func:`compute_index` -- NDVI, NDWI, NDBI, EVI, NBR as float32 (NaN nodata).
- :func:`detect_change` -- ``diff`` / ``cva`` with a given or a global Otsu threshold,
  ``postclass`` with a transition matrix; uint8 mask 0/1/255.
- :func:`zonal` -- statistics of one band per polygon of a GeoJSON file.
- :func:`correct_dos` -- dark-object subtraction (top-of-atmosphere products).
- :func:`mask_quality` -- SCL / QA_PIXEL masks, or bands with masked pixels set to NaN.
- :func:`detect_clouds` -- s2cloudless cloud masks for Sentinel-2 L1C (no SCL there).
- :func:`coregister` -- sub-pixel shift by phase correlation, target resampled onto the
  reference grid.
- :func:`convert_to_cog` -- any GeoTIFF as a COG.
"""

from terrascan.engine.change import detect_change
from terrascan.engine.clouds import detect_clouds
from terrascan.engine.convert import convert_to_cog
from terrascan.engine.coregister import coregister
from terrascan.engine.correct import correct_dos
from terrascan.engine.index import compute_index
from terrascan.engine.progress import ProgressCallback
from terrascan.engine.quality import mask_quality
from terrascan.engine.results import (
    ChangeResult,
    ConversionResult,
    CoregistrationResult,
    CorrectionResult,
    IndexResult,
    OutputInfo,
    QualityResult,
    ZonalResult,
)
from terrascan.engine.runner import BlockRunner
from terrascan.engine.sources import RasterSource
from terrascan.engine.zonal import zonal

__all__ = [
    "BlockRunner",
    "ChangeResult",
    "ConversionResult",
    "CoregistrationResult",
    "CorrectionResult",
    "IndexResult",
    "OutputInfo",
    "ProgressCallback",
    "QualityResult",
    "RasterSource",
    "ZonalResult",
    "compute_index",
    "convert_to_cog",
    "coregister",
    "correct_dos",
    "detect_change",
    "detect_clouds",
    "mask_quality",
    "zonal",
]
