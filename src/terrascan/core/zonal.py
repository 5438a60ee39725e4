"""Zonal statistics of a value raster over an integer zone-label raster.

The io layer rasterises the zones (polygons) onto the value grid; here every pixel's label says
which zone it belongs to, and ``nodata_zone`` (0 by default) means "outside every zone". The
statistics are computed for all zones at once by sorting the pixels by (zone, value) and
reducing with :func:`numpy.bincount`, with no Python loop over pixels or zones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from terrascan.core._arrays import (
    ArrayLike,
    Float64Array,
    Int64Array,
    as_integer,
    as_real,
    same_shape,
)
from terrascan.errors import InvalidInputError


@attrs.frozen(eq=False)
class ZonalStatistics:
    """Per-zone statistics, one array element per zone id in ``zones`` (sorted).

    Statistics are float64; a zone with no valid pixel has ``count`` 0 and NaN statistics.
    ``std`` is the population standard deviation (ddof 0 unless asked otherwise);
    ``percentiles`` maps each requested percentile (0..100) to its per-zone values.
    """

    zones: Int64Array
    count: Int64Array
    mean: Float64Array
    median: Float64Array
    std: Float64Array
    minimum: Float64Array
    maximum: Float64Array
    percentiles: dict[float, Float64Array]

    def __len__(self) -> int:
        return int(self.zones.size)

    def to_records(self) -> list[dict[str, Any]]:
        """Return one JSON-ready dict per zone (NaN becomes None)."""

        def clean(x: float) -> float | None:
            return None if math.isnan(x) else x

        records = []
        for i, zone in enumerate(self.zones.tolist()):
            record: dict[str, Any] = {"zone": zone, "count": int(self.count[i])}
            for name in ("mean", "median", "std", "minimum", "maximum"):
                record[name] = clean(float(getattr(self, name)[i]))
            record["percentiles"] = {q: clean(float(v[i])) for q, v in self.percentiles.items()}
            records.append(record)
        return records


def _sorted_percentile(
    sorted_values: Float64Array, starts: Int64Array, count: Int64Array, q: float
) -> Float64Array:
    """Percentile ``q`` of each zone's run in ``sorted_values`` (linear interpolation)."""
    result = np.full(count.shape, np.nan)
    has = count > 0
    position = q / 100.0 * (count[has] - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, count[has] - 1)
    below = sorted_values[starts[has] + low]
    above = sorted_values[starts[has] + high]
    result[has] = below + (above - below) * (position - low)
    return result


def zonal_statistics(
    values: ArrayLike,
    zones: ArrayLike,
    *,
    percentiles: Sequence[float] = (),
    nodata_zone: int | None = 0,
    zone_ids: Sequence[int] | None = None,
    ddof: int = 0,
) -> ZonalStatistics:
    r"""Count, mean, median, std, min, max and percentiles of ``values`` in each zone.

    With :math:`n_z` valid (finite) values :math:`v_i` in zone :math:`z`:
    :math:`\bar v_z = \frac{1}{n_z}\sum v_i`,
    :math:`s_z = \sqrt{\sum (v_i - \bar v_z)^2 / (n_z - ddof)}`; percentiles interpolate
    linearly between order statistics at rank :math:`q/100\,(n_z - 1)` (Hyndman & Fan 1996,
    definition 7, numpy's default). NaN values and pixels labelled ``nodata_zone`` are excluded.
    ``zone_ids`` fixes the zones reported (absent ones get count 0); by default every label
    present in ``zones`` is reported. Zonal operations: Tomlin (1990), "Geographic Information
    Systems and Cartographic Modeling", Prentice Hall.
    """
    v = as_real(values, "values")
    z = as_integer(zones, "zones")
    same_shape("values", v, "zones", z)
    qs = [float(q) for q in percentiles]
    if any(not 0 <= q <= 100 for q in qs):
        raise InvalidInputError(f"percentiles must lie in [0, 100], got {qs}")
    v64 = v.reshape(-1).astype(np.float64, copy=False)
    z64 = z.reshape(-1).astype(np.int64, copy=False)
    inside = np.ones(z64.shape, dtype=bool) if nodata_zone is None else z64 != nodata_zone
    if zone_ids is None:
        ids = np.unique(z64[inside])
    else:
        ids = np.unique(np.asarray(zone_ids, dtype=np.int64))
    keep = inside & np.isfinite(v64)
    label, vals = z64[keep], v64[keep]
    pos = np.searchsorted(ids, label)
    known = pos < ids.size
    known[known] = ids[pos[known]] == label[known]
    pos, vals = pos[known], vals[known]
    return _reduce(ids, pos, vals, qs, ddof)


def _reduce(
    ids: Int64Array, pos: Int64Array, vals: Float64Array, qs: list[float], ddof: int
) -> ZonalStatistics:
    """Reduce values grouped by zone position ``pos`` (an index into ``ids``)."""
    n = ids.size
    count = np.bincount(pos, minlength=n).astype(np.int64)
    has = count > 0
    mean = np.full(n, np.nan)
    mean[has] = np.bincount(pos, weights=vals, minlength=n)[has] / count[has]
    squares = np.bincount(pos, weights=(vals - mean[pos]) ** 2, minlength=n)
    std = np.full(n, np.nan)
    dof = count - ddof
    std[dof > 0] = np.sqrt(squares[dof > 0] / dof[dof > 0])
    order = np.lexsort((vals, pos))
    sorted_values = vals[order]
    starts = np.cumsum(count) - count
    minimum, maximum = np.full(n, np.nan), np.full(n, np.nan)
    minimum[has] = sorted_values[starts[has]]
    maximum[has] = sorted_values[starts[has] + count[has] - 1]
    return ZonalStatistics(
        zones=ids,
        count=count,
        mean=mean,
        median=_sorted_percentile(sorted_values, starts, count, 50.0),
        std=std,
        minimum=minimum,
        maximum=maximum,
        percentiles={q: _sorted_percentile(sorted_values, starts, count, q) for q in qs},
    )
