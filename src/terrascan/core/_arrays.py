"""Array type aliases and the input checks every core function shares.

Core functions take anything numpy can turn into an array (``ArrayLike``) and return arrays of
a fixed dtype: float32 with NaN for "no data", uint8 masks with an explicit nodata value, or
booleans. The helpers here turn bad input into :class:`~terrascan.errors.InvalidInputError`
with a message that names the argument.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from terrascan.errors import InvalidInputError

ArrayLike: TypeAlias = npt.ArrayLike
AnyArray: TypeAlias = npt.NDArray[Any]
Float32Array: TypeAlias = npt.NDArray[np.float32]
Float64Array: TypeAlias = npt.NDArray[np.float64]
UInt8Array: TypeAlias = npt.NDArray[np.uint8]
BoolArray: TypeAlias = npt.NDArray[np.bool_]
Int64Array: TypeAlias = npt.NDArray[np.int64]


def as_real(array: ArrayLike, name: str) -> AnyArray:
    """Return ``array`` as a numeric (integer, float or bool) ndarray without copying it."""
    arr = np.asarray(array)
    if arr.dtype.kind not in "biuf":
        raise InvalidInputError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def as_float32(array: ArrayLike, name: str) -> Float32Array:
    """Return ``array`` as float32, copying only when its dtype differs."""
    return as_real(array, name).astype(np.float32, copy=False)


def as_integer(array: ArrayLike, name: str) -> AnyArray:
    """Return ``array`` as an integer (or bool) ndarray; floats are refused, not rounded."""
    arr = np.asarray(array)
    if arr.dtype.kind not in "biu":
        raise InvalidInputError(f"{name} must be an integer array, got dtype {arr.dtype}")
    return arr


def same_shape(name_a: str, a: AnyArray, name_b: str, b: AnyArray) -> None:
    """Raise unless ``a`` and ``b`` have the same shape (core never broadcasts silently)."""
    if a.shape != b.shape:
        raise InvalidInputError(
            f"{name_a} and {name_b} must have the same shape, got {a.shape} and {b.shape}"
        )


def output(out: AnyArray | None, shape: tuple[int, ...], dtype: type[Any]) -> AnyArray:
    """Return ``out`` after checking its shape and dtype, or a new empty array."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise InvalidInputError("out must be a numpy array")
    if out.shape != shape or out.dtype != np.dtype(dtype):
        raise InvalidInputError(
            f"out must have shape {shape} and dtype {np.dtype(dtype)}, "
            f"got {out.shape} and {out.dtype}"
        )
    if not out.flags.writeable:
        raise InvalidInputError("out must be writeable")
    return out


def check_pixel_area(pixel_area_m2: float | None) -> float | None:
    """Return the pixel area as a float, or raise if it is not a positive finite number."""
    if pixel_area_m2 is None:
        return None
    area = float(pixel_area_m2)
    if not np.isfinite(area) or area <= 0:
        raise InvalidInputError(f"pixel_area_m2 must be a positive number, got {pixel_area_m2}")
    return area


def band_list(stack: Sequence[ArrayLike] | ArrayLike, name: str) -> list[AnyArray]:
    """Split a (band, row, col) array or a sequence of 2-D arrays into a list of bands."""
    if isinstance(stack, np.ndarray):
        bands = list(as_real(stack, name)) if stack.ndim >= 2 else []
    elif isinstance(stack, Sequence) and not isinstance(stack, str | bytes):
        bands = [as_real(band, f"{name}[{i}]") for i, band in enumerate(stack)]
    else:
        bands = []
    if not bands:
        raise InvalidInputError(f"{name} must be a non-empty stack of 2-D bands")
    for i, band in enumerate(bands[1:], start=1):
        same_shape(f"{name}[0]", bands[0], f"{name}[{i}]", band)
    return bands
