"""Co-registration: sub-pixel translation between two images by phase correlation.

Sign convention: :func:`estimate_shift` returns ``(dy, dx)`` such that the target is the
reference moved by ``dy`` rows and ``dx`` columns, ``target(y, x) = reference(y - dy, x - dx)``.
:func:`shift_image` moves an image's content by ``(dy, dx)`` with the same convention, so
``estimate_shift(ref, shift_image(ref, dy, dx))`` is ``(dy, dx)``, and
:func:`align_to_reference` undoes a measured shift to put the target on the reference grid.
"""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt

from terrascan.core._arrays import AnyArray, ArrayLike, Float32Array, Float64Array, as_real, output
from terrascan.errors import InvalidInputError

ShiftMethod: TypeAlias = Literal["bilinear", "fourier"]
ComplexArray: TypeAlias = npt.NDArray[np.complex128]

_MIN_SIZE = 8


class Shift(NamedTuple):
    """A translation in pixels: ``dy`` rows (down positive), ``dx`` columns (right positive)."""

    dy: float
    dx: float


def _as_image(image: ArrayLike, name: str) -> AnyArray:
    arr = as_real(image, name)
    if arr.ndim != 2:
        raise InvalidInputError(f"{name} must be a 2-D array, got {arr.ndim} dimensions")
    if min(arr.shape) < _MIN_SIZE:
        raise InvalidInputError(f"{name} must be at least {_MIN_SIZE}x{_MIN_SIZE} pixels")
    return arr


def _finite_extent(*images: AnyArray) -> tuple[slice, slice]:
    """Rows and columns left after trimming border lines that are all NaN in any image."""
    extent = []
    for axis in (0, 1):
        full = np.logical_and.reduce([np.isfinite(im).any(axis=1 - axis) for im in images])
        lines = np.flatnonzero(full)
        if lines.size < _MIN_SIZE:
            raise InvalidInputError("too few finite rows or columns to co-register")
        extent.append(slice(int(lines[0]), int(lines[-1]) + 1))
    return extent[0], extent[1]


def _prepared(image: AnyArray, window: bool) -> Float64Array:
    """Fill NaN with the mean, remove the mean, and taper the edges with a Hann window."""
    values = image.astype(np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        raise InvalidInputError("cannot co-register an image without finite values")
    values[~finite] = values[finite].mean()
    values -= values.mean()
    if window:
        values *= np.outer(np.hanning(values.shape[0]), np.hanning(values.shape[1]))
    return values


def _cross_power(
    reference: AnyArray, target: AnyArray, window: bool, lowpass: float | None
) -> ComplexArray:
    r"""Normalised cross-power spectrum :math:`R = G F^* / |G F^*|`, times a low-pass weight.

    The weight :math:`e^{-(f / lowpass)^2}` (:math:`f` in cycles per pixel) keeps noise and
    the edges of masked areas, strong at high frequencies, from drowning the peak.
    """
    product = np.fft.fft2(_prepared(target, window)) * np.conj(
        np.fft.fft2(_prepared(reference, window))
    )
    magnitude = np.abs(product)
    floor = magnitude.max() * 1e-12
    if floor == 0:
        raise InvalidInputError("cannot co-register featureless (constant) images")
    spectrum: ComplexArray = np.where(magnitude > floor, product / np.maximum(magnitude, floor), 0)
    if lowpass is not None:
        fy = np.fft.fftfreq(spectrum.shape[0])[:, None]
        fx = np.fft.fftfreq(spectrum.shape[1])[None, :]
        spectrum *= np.exp(-(fy**2 + fx**2) / lowpass**2)
    return spectrum


def _upsampled_correlation(
    spectrum: ComplexArray, centre: tuple[float, float], factor: int
) -> tuple[Float64Array, float]:
    r"""Evaluate :math:`|IDFT(R)|` on a grid of step ``1/factor`` within 0.75 px of ``centre``.

    Matrix-multiply DFT of Guizar-Sicairos et al. (2008): rows ``E_y R E_x^T`` with
    :math:`E[k, u] = e^{2 \pi i f_u y_k}` at the sample positions :math:`y_k`.
    """
    half = math.ceil(0.75 * factor)
    offsets = np.arange(-half, half + 1) / factor
    kernels = []
    for axis, c in enumerate(centre):
        freqs = np.fft.fftfreq(spectrum.shape[axis])
        kernels.append(np.exp(2j * np.pi * np.outer(c + offsets, freqs)))
    values = np.abs(kernels[0] @ spectrum @ kernels[1].T)
    return values, float(offsets[0])


def _checked_pair(
    reference: ArrayLike, target: ArrayLike, upsample_factor: int, lowpass: float | None
) -> tuple[AnyArray, AnyArray]:
    """Validate the inputs of :func:`estimate_shift`; return the two images as arrays."""
    ref, tgt = _as_image(reference, "reference"), _as_image(target, "target")
    if ref.shape != tgt.shape:
        raise InvalidInputError(f"reference {ref.shape} and target {tgt.shape} differ in shape")
    if isinstance(upsample_factor, bool) or not isinstance(upsample_factor, int):
        raise InvalidInputError(f"upsample_factor must be an integer, got {upsample_factor!r}")
    if upsample_factor < 1:
        raise InvalidInputError(f"upsample_factor must be >= 1, got {upsample_factor}")
    if lowpass is not None and not lowpass > 0:
        raise InvalidInputError(f"lowpass must be positive or None, got {lowpass!r}")
    return ref, tgt


def estimate_shift(
    reference: ArrayLike,
    target: ArrayLike,
    *,
    upsample_factor: int = 100,
    window: bool = True,
    lowpass: float | None = 0.15,
) -> Shift:
    r"""Return the sub-pixel translation ``(dy, dx)`` of ``target`` relative to ``reference``.

    Phase correlation: the inverse DFT of the normalised cross-power spectrum
    :math:`R = G F^* / |G F^*|` peaks at the shift (Kuglin & Hines 1975, "The phase
    correlation image alignment method", Proc. IEEE Conf. Cybernetics and Society). Border
    rows and columns that are all NaN in either image are trimmed, other NaN are mean-filled,
    and both images are Hann-windowed. :math:`R` is weighted by :math:`e^{-(f/lowpass)^2}`
    (``lowpass`` in cycles per pixel; None for pure phase correlation), a frequency mask in the
    spirit of Stone et al. (2001), IEEE Trans. Geosci. Remote Sens. 39(10), 2235-2243, which
    keeps noise and the edges of masked areas from dominating. The integer peak is refined to
    ``1/upsample_factor`` px by an upsampled matrix-multiply DFT around it (Guizar-Sicairos,
    Thurman & Fienup 2008, "Efficient subpixel image registration algorithms", Opt. Lett.
    33(2), 156-158). Shifts are found modulo the image size, within half of it.
    """
    ref, tgt = _checked_pair(reference, target, upsample_factor, lowpass)
    rows, cols = _finite_extent(ref, tgt)  # NaN borders (e.g. of a shifted image) would bias
    ref, tgt = ref[rows, cols], tgt[rows, cols]
    spectrum = _cross_power(ref, tgt, window, lowpass)
    correlation = np.abs(np.fft.ifft2(spectrum))
    peak = np.unravel_index(int(np.argmax(correlation)), correlation.shape)
    coarse = [float(p - n if p > n // 2 else p) for p, n in zip(peak, ref.shape, strict=True)]
    if upsample_factor == 1:
        return Shift(coarse[0], coarse[1])
    fine, start = _upsampled_correlation(spectrum, (coarse[0], coarse[1]), upsample_factor)
    iy, ix = np.unravel_index(int(np.argmax(fine)), fine.shape)
    step = 1.0 / upsample_factor
    return Shift(coarse[0] + start + float(iy) * step, coarse[1] + start + float(ix) * step)


def _take(values: Float32Array, offset: int, axis: int) -> Float32Array:
    """Return ``b`` with ``b[i] = values[i + offset]`` along ``axis``, NaN outside."""
    result = np.full(values.shape, np.nan, dtype=np.float32)
    n = values.shape[axis]
    lo, hi = max(0, -offset), min(n, n - offset)
    if lo < hi:
        dst: list[Any] = [slice(None)] * values.ndim
        src: list[Any] = [slice(None)] * values.ndim
        dst[axis], src[axis] = slice(lo, hi), slice(lo + offset, hi + offset)
        result[tuple(dst)] = values[tuple(src)]
    return result


def _linear_shift_axis(values: Float32Array, shift: float, axis: int) -> Float32Array:
    """Linear interpolation of ``values(i - shift)`` along one axis, NaN outside the image."""
    source = -shift
    base = math.floor(source)
    frac = source - base
    if frac < 1e-6 or frac > 1 - 1e-6:  # whole-pixel shift: no neighbour needed
        return _take(values, round(source), axis)
    w = np.float32(frac)
    below = _take(values, base, axis)
    below *= np.float32(1.0) - w
    below += w * _take(values, base + 1, axis)
    return below


def _fourier_shift(values: Float32Array, dy: float, dx: float) -> Float32Array:
    """Shift by a phase ramp (mean-filled NaN), then NaN where the source is off the image."""
    filled = values.astype(np.float64)
    invalid = ~np.isfinite(filled)
    if invalid.all():
        return np.full(values.shape, np.nan, dtype=np.float32)
    filled[invalid] = filled[~invalid].mean()
    fy = np.fft.fftfreq(values.shape[0])[:, None]
    fx = np.fft.fftfreq(values.shape[1])[None, :]
    ramp = np.exp(-2j * np.pi * (fy * dy + fx * dx))
    shifted = np.fft.ifft2(np.fft.fft2(filled) * ramp).real.astype(np.float32)
    nearest = _take(_take(invalid.astype(np.float32), -round(dy), 0), -round(dx), 1)
    shifted[nearest != 0] = np.nan  # NaN carried along, and the wrapped-in border
    rows, cols = np.arange(values.shape[0]) - dy, np.arange(values.shape[1]) - dx
    shifted[(rows < 0) | (rows > values.shape[0] - 1), :] = np.nan
    shifted[:, (cols < 0) | (cols > values.shape[1] - 1)] = np.nan
    return shifted


def shift_image(
    image: ArrayLike,
    dy: float,
    dx: float,
    *,
    method: ShiftMethod = "bilinear",
    out: Float32Array | None = None,
) -> Float32Array:
    r"""Move an image's content by ``(dy, dx)`` pixels: :math:`out(y, x) = image(y - dy, x - dx)`.

    ``"bilinear"`` interpolates the four neighbours (separable linear interpolation; NaN where a
    needed neighbour is NaN or off the image). ``"fourier"`` applies the phase ramp
    :math:`e^{-2\pi i (f_y dy + f_x dx)}` (shift theorem; exact for band-limited images), then
    sets NaN where the source lies off the image. Result float32. Bilinear resampling:
    Press et al. (2007), Numerical Recipes, 3rd ed., sec. 3.6.
    """
    values = _as_image(image, "image").astype(np.float32, copy=False)
    if not (math.isfinite(dy) and math.isfinite(dx)):
        raise InvalidInputError(f"shift must be finite, got ({dy}, {dx})")
    if method == "bilinear":
        shifted = _linear_shift_axis(_linear_shift_axis(values, dy, 0), dx, 1)
    elif method == "fourier":
        shifted = _fourier_shift(values, dy, dx)
    else:
        raise InvalidInputError(f"method must be 'bilinear' or 'fourier', got {method!r}")
    result: Float32Array = output(out, values.shape, np.float32)
    np.copyto(result, shifted)
    return result


def align_to_reference(
    target: ArrayLike,
    shift: tuple[float, float],
    *,
    method: ShiftMethod = "bilinear",
    out: Float32Array | None = None,
) -> Float32Array:
    """Resample ``target`` onto the reference grid, undoing ``shift`` from :func:`estimate_shift`.

    :math:`out(y, x) = target(y + dy, x + dx)`, i.e. ``shift_image(target, -dy, -dx)``;
    NaN where that falls outside the target.
    """
    dy, dx = shift
    return shift_image(target, -dy, -dx, method=method, out=out)
