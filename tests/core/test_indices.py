"""Spectral indices: known answers, NaN rules, out=, the registry, numba == numpy."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from terrascan.core import _accel
from terrascan.core.indices import (
    BAND_NAMES,
    INDICES,
    evi,
    get_index,
    nbr,
    ndbi,
    ndvi,
    ndwi,
    normalized_difference,
)
from terrascan.errors import InvalidInputError

NAN = np.nan


def test_normalized_difference_known_answers() -> None:
    a = np.array([[0.5, 0.0], [0.3, NAN], [0.2, 0.4]])
    b = np.array([[0.1, 0.0], [-0.3, 0.2], [NAN, 0.4]])
    expected = np.array([[0.4 / 0.6, NAN], [NAN, NAN], [NAN, 0.0]], dtype=np.float32)
    result = normalized_difference(a, b)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("func", "args", "expected"),
    [
        (ndvi, (0.5, 0.1), 0.4 / 0.6),  # nir, red
        (ndwi, (0.1, 0.5), -0.4 / 0.6),  # green, nir
        (ndbi, (0.3, 0.2), 0.1 / 0.5),  # swir16, nir
        (nbr, (0.4, 0.1), 0.3 / 0.5),  # nir, swir22
        (evi, (0.5, 0.1, 0.05), 2.5 * 0.4 / (0.5 + 0.6 - 0.375 + 1.0)),  # nir, red, blue
    ],
)
def test_index_formulas(
    func: Callable[..., np.ndarray], args: tuple[float, ...], expected: float
) -> None:
    arrays = [np.full((3, 4), value, dtype=np.float32) for value in args]
    result = func(*arrays)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_evi_zero_denominator_is_nan() -> None:
    # 0.5 + 6*0.25 - 7.5*0.4 + 1 = 0
    result = evi(np.array([0.5, 0.5]), np.array([0.25, 0.25]), np.array([0.4, NAN]))
    assert np.isnan(result).all()


def test_integer_inputs_are_converted() -> None:
    nir = np.array([[5000, 0]], dtype=np.uint16)
    red = np.array([[1000, 0]], dtype=np.uint16)
    np.testing.assert_allclose(ndvi(nir, red), [[4000 / 6000, NAN]], rtol=1e-6)


def test_out_is_filled_and_returned() -> None:
    nir, red = np.full((4, 4), 0.6), np.full((4, 4), 0.2)
    out = np.zeros((4, 4), dtype=np.float32)
    assert ndvi(nir, red, out) is out
    np.testing.assert_allclose(out, 0.5, rtol=1e-6)


def test_blockwise_out_matches_whole() -> None:
    rng = np.random.default_rng(0)
    nir, red = rng.random((64, 50), dtype=np.float32), rng.random((64, 50), dtype=np.float32)
    whole = ndvi(nir, red)
    blocks = np.empty_like(whole)
    for r in range(0, 64, 16):
        ndvi(nir[r : r + 16], red[r : r + 16], blocks[r : r + 16])
    np.testing.assert_array_equal(blocks, whole)


@pytest.mark.parametrize(
    "out",
    [np.zeros((2, 2), dtype=np.float64), np.zeros((3, 2), dtype=np.float32)],
)
def test_bad_out_raises(out: np.ndarray) -> None:
    with pytest.raises(InvalidInputError):
        ndvi(np.ones((2, 2)), np.ones((2, 2)), out)


def test_shape_mismatch_and_bad_dtype_raise() -> None:
    with pytest.raises(InvalidInputError, match="same shape"):
        ndvi(np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(InvalidInputError):
        ndvi(np.array(["a"]), np.array(["b"]))
    with pytest.raises(InvalidInputError, match="backend"):
        ndvi(np.ones(4), np.ones(4), backend="gpu")  # type: ignore[arg-type]


def test_registry_bands_and_compute() -> None:
    assert set(INDICES) == {"ndvi", "ndwi", "ndbi", "evi", "nbr"}
    assert INDICES["ndvi"].bands == ("nir", "red")
    assert INDICES["ndwi"].bands == ("green", "nir")
    assert INDICES["ndbi"].bands == ("swir16", "nir")
    assert INDICES["nbr"].bands == ("nir", "swir22")
    assert INDICES["evi"].bands == ("nir", "red", "blue")
    for definition in INDICES.values():
        assert set(definition.bands) <= set(BAND_NAMES)
    bands = {"nir": np.array([0.5]), "red": np.array([0.1]), "blue": np.array([0.05])}
    np.testing.assert_allclose(get_index("NDVI").compute(bands), [0.4 / 0.6], rtol=1e-6)
    np.testing.assert_allclose(INDICES["evi"].compute(bands), evi(0.5, 0.1, 0.05), rtol=1e-6)


def test_registry_errors() -> None:
    with pytest.raises(InvalidInputError, match="missing"):
        INDICES["nbr"].compute({"nir": np.ones(2)})
    with pytest.raises(InvalidInputError, match="unknown index"):
        get_index("savi")


# ---- numba and numpy agree bit for bit -------------------------------------------------------

needs_numba = pytest.mark.skipif(not _accel.numba_available(), reason="numba not available")


def _reflectance(seed: int, shape: tuple[int, int]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    bands = [rng.random(shape, dtype=np.float32) * 0.6 for _ in range(3)]
    bands[0][0, :7] = NAN
    bands[1][1, :5] = NAN
    bands[0][2, :4], bands[1][2, :4] = 0.0, 0.0  # 0 / 0
    bands[0][3, :4], bands[1][3, :4] = 0.25, -0.25  # a + b == 0 with a - b != 0
    return bands


@needs_numba
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_and_numpy_normalized_difference_agree(dtype: type) -> None:
    a, b, _ = (x.astype(dtype) for x in _reflectance(1, (160, 130)))
    fast = normalized_difference(a, b, backend="numba")
    slow = normalized_difference(a, b, backend="numpy")
    np.testing.assert_array_equal(fast, slow)  # NaN positions equal, values bit-identical
    assert np.isnan(fast[2, :4]).all() and np.isnan(fast[3, :4]).all()


@needs_numba
def test_numba_and_numpy_agree_on_integers_and_evi() -> None:
    nir, red, blue = _reflectance(2, (150, 120))
    dn_nir = np.nan_to_num(nir * 10000).astype(np.uint16)
    dn_red = np.nan_to_num(red * 10000).astype(np.uint16)
    np.testing.assert_array_equal(
        ndvi(dn_nir, dn_red, backend="numba"), ndvi(dn_nir, dn_red, backend="numpy")
    )
    np.testing.assert_array_equal(
        evi(nir, red, blue, backend="numba"), evi(nir, red, blue, backend="numpy")
    )


@needs_numba
def test_auto_backend_uses_numba_for_large_arrays_and_falls_back() -> None:
    a, b, _ = _reflectance(3, (256, 256))
    assert a.size >= _accel.NUMBA_MIN_PIXELS
    np.testing.assert_array_equal(ndvi(a, b), ndvi(a, b, backend="numpy"))
    strided_a, strided_b = a[:, ::2], b[:, ::2]  # not C-contiguous: numpy path
    np.testing.assert_array_equal(
        ndvi(strided_a, strided_b), ndvi(strided_a.copy(), strided_b.copy(), backend="numba")
    )
    with pytest.raises(InvalidInputError, match="C-contiguous"):
        ndvi(strided_a, strided_b, backend="numba")
