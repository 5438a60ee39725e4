"""Spectral indices on surface (or top-of-atmosphere) reflectance.

Every index returns float32 with NaN where an input is NaN or the denominator is zero. Inputs
are reflectance (0..1); integer digital numbers work for the normalized differences (they are
scale-free) but not for EVI, whose ``+ 1`` term assumes reflectance. Each function accepts a
preallocated float32 ``out`` so that the engine can run it block by block, and a ``backend``:
``"auto"`` uses a parallel numba kernel for large C-contiguous arrays and numpy otherwise; both
give bit-identical results.

:data:`INDICES` maps an index name to its :class:`IndexDefinition` (required bands as STAC
``eo`` common names, the function, the usual display range), for the CLI, API and tiles.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeAlias

import attrs
import numpy as np

from terrascan.core import _accel
from terrascan.core._accel import Backend
from terrascan.core._arrays import (
    AnyArray,
    ArrayLike,
    Float32Array,
    as_float32,
    as_real,
    output,
    same_shape,
)
from terrascan.errors import InvalidInputError

IndexName: TypeAlias = Literal["ndvi", "ndwi", "ndbi", "evi", "nbr"]

#: STAC ``eo`` extension common band names, the vocabulary every layer uses for bands.
BAND_NAMES: tuple[str, ...] = (
    "coastal",
    "blue",
    "green",
    "red",
    "rededge1",
    "rededge2",
    "rededge3",
    "nir",
    "nir08",
    "nir09",
    "cirrus",
    "swir16",
    "swir22",
)


def _inputs(arrays: Mapping[str, ArrayLike]) -> list[AnyArray]:
    """Return the inputs as real ndarrays of one shape (names are used in error messages)."""
    checked = [as_real(value, name) for name, value in arrays.items()]
    names = list(arrays)
    for name, arr in zip(names[1:], checked[1:], strict=True):
        same_shape(names[0], checked[0], name, arr)
    return checked


def normalized_difference(
    a: ArrayLike, b: ArrayLike, out: Float32Array | None = None, *, backend: Backend = "auto"
) -> Float32Array:
    r"""Return :math:`(a - b) / (a + b)` as float32; NaN where ``a + b == 0`` or an input is NaN.

    The generic normalized difference of two bands (Rouse et al., 1974, "Monitoring vegetation
    systems in the Great Plains with ERTS", NASA SP-351). Both inputs are converted to float32
    before the arithmetic.
    """
    arr_a, arr_b = _inputs({"a": a, "b": b})
    result: Float32Array = output(out, arr_a.shape, np.float32)
    if _accel.use_numba(backend, arr_a.size, arr_a, arr_b, result):
        from terrascan.core import _kernels

        flat = [x.reshape(-1) for x in (arr_a, arr_b, result)]
        _accel.call_parallel(_kernels.normalized_difference, *flat)
        return result
    a32, b32 = as_float32(arr_a, "a"), as_float32(arr_b, "b")
    total = a32 + b32
    zero = total == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        np.subtract(a32, b32, out=result)
        np.divide(result, total, out=result)
    result[zero] = np.nan
    return result


def ndvi(
    nir: ArrayLike, red: ArrayLike, out: Float32Array | None = None, *, backend: Backend = "auto"
) -> Float32Array:
    r"""Normalized Difference Vegetation Index :math:`(NIR - Red) / (NIR + Red)`.

    Rouse, Haas, Schell & Deering (1974), NASA SP-351; Tucker (1979), Remote Sens. Environ. 8.
    """
    return normalized_difference(nir, red, out, backend=backend)


def ndwi(
    green: ArrayLike, nir: ArrayLike, out: Float32Array | None = None, *, backend: Backend = "auto"
) -> Float32Array:
    r"""Normalized Difference Water Index :math:`(Green - NIR) / (Green + NIR)`.

    McFeeters (1996), "The use of the Normalized Difference Water Index (NDWI) in the
    delineation of open water features", Int. J. Remote Sens. 17(7), 1425-1432.
    """
    return normalized_difference(green, nir, out, backend=backend)


def ndbi(
    swir16: ArrayLike, nir: ArrayLike, out: Float32Array | None = None, *, backend: Backend = "auto"
) -> Float32Array:
    r"""Normalized Difference Built-up Index :math:`(SWIR_{1.6} - NIR) / (SWIR_{1.6} + NIR)`.

    Zha, Gao & Ni (2003), "Use of normalized difference built-up index in automatically mapping
    urban areas from TM imagery", Int. J. Remote Sens. 24(3), 583-594.
    """
    return normalized_difference(swir16, nir, out, backend=backend)


def nbr(
    nir: ArrayLike, swir22: ArrayLike, out: Float32Array | None = None, *, backend: Backend = "auto"
) -> Float32Array:
    r"""Normalized Burn Ratio :math:`(NIR - SWIR_{2.2}) / (NIR + SWIR_{2.2})`.

    Key & Benson (2006), "Landscape Assessment (LA)", FIREMON, USDA Forest Service
    RMRS-GTR-164-CD; López García & Caselles (1991), Geocarto Int. 6(1).
    """
    return normalized_difference(nir, swir22, out, backend=backend)


def evi(
    nir: ArrayLike,
    red: ArrayLike,
    blue: ArrayLike,
    out: Float32Array | None = None,
    *,
    backend: Backend = "auto",
) -> Float32Array:
    r"""Enhanced Vegetation Index on reflectance, as float32; NaN where the denominator is 0.

    :math:`EVI = 2.5 \, (NIR - Red) / (NIR + 6 \, Red - 7.5 \, Blue + 1)` (G = 2.5, C1 = 6,
    C2 = 7.5, L = 1). Huete et al. (2002), "Overview of the radiometric and biophysical
    performance of the MODIS vegetation indices", Remote Sens. Environ. 83, 195-213.
    """
    arr_n, arr_r, arr_b = _inputs({"nir": nir, "red": red, "blue": blue})
    result: Float32Array = output(out, arr_n.shape, np.float32)
    if _accel.use_numba(backend, arr_n.size, arr_n, arr_r, arr_b, result):
        from terrascan.core import _kernels

        flat = [x.reshape(-1) for x in (arr_n, arr_r, arr_b, result)]
        _accel.call_parallel(_kernels.evi, *flat)
        return result
    n32, r32, b32 = (as_float32(x, "band") for x in (arr_n, arr_r, arr_b))
    # Same evaluation order as the numba kernel: ((n + 6 r) - 7.5 b) + 1.
    den = n32 + np.float32(6.0) * r32
    den -= np.float32(7.5) * b32
    den += np.float32(1.0)
    zero = den == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        np.subtract(n32, r32, out=result)
        np.multiply(np.float32(2.5), result, out=result)
        np.divide(result, den, out=result)
    result[zero] = np.nan
    return result


@attrs.frozen
class IndexDefinition:
    """A spectral index: its required bands (STAC eo common names) and how to compute it.

    ``bands`` are in the order ``function`` takes them; ``value_range`` is the usual range for
    display (colour-map rescaling), not a clip applied to results.
    """

    name: str
    long_name: str
    bands: tuple[str, ...]
    function: Callable[..., Float32Array]
    reference: str
    value_range: tuple[float, float] = (-1.0, 1.0)

    def compute(
        self,
        bands: Mapping[str, ArrayLike],
        out: Float32Array | None = None,
        *,
        backend: Backend = "auto",
    ) -> Float32Array:
        """Compute the index from a mapping of common band name to array (extra bands ignored)."""
        missing = [band for band in self.bands if band not in bands]
        if missing:
            raise InvalidInputError(
                f"index {self.name!r} needs bands {list(self.bands)}; missing {missing}"
            )
        args: list[Any] = [bands[band] for band in self.bands]
        return self.function(*args, out=out, backend=backend)


INDICES: dict[str, IndexDefinition] = {
    "ndvi": IndexDefinition(
        "ndvi", "Normalized Difference Vegetation Index", ("nir", "red"), ndvi, "Rouse et al. 1974"
    ),
    "ndwi": IndexDefinition(
        "ndwi", "Normalized Difference Water Index", ("green", "nir"), ndwi, "McFeeters 1996"
    ),
    "ndbi": IndexDefinition(
        "ndbi", "Normalized Difference Built-up Index", ("swir16", "nir"), ndbi, "Zha et al. 2003"
    ),
    "nbr": IndexDefinition(
        "nbr", "Normalized Burn Ratio", ("nir", "swir22"), nbr, "Key & Benson 2006"
    ),
    "evi": IndexDefinition(
        "evi", "Enhanced Vegetation Index", ("nir", "red", "blue"), evi, "Huete et al. 2002"
    ),
}


def get_index(name: str) -> IndexDefinition:
    """Return the definition of index ``name`` (case-insensitive), or raise InvalidInputError."""
    try:
        return INDICES[name.lower()]
    except KeyError:
        known = ", ".join(sorted(INDICES))
        raise InvalidInputError(f"unknown index {name!r}; known indices: {known}") from None
