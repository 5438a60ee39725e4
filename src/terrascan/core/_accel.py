"""Optional numba acceleration for per-pixel kernels.

numba is imported lazily, the first time a large enough array asks for it, so that importing
``terrascan.core`` stays cheap (the CLI and the tile server start fast). Each kernel also has a
numpy path that gives bit-identical results: both compute in float32, in the same order, with
no fused multiply-add (numba's default, ``fastmath=False``).

Parallel kernels are called under one lock. numba's ``workqueue`` threading layer aborts when
two Python threads launch parallel kernels at the same time; a kernel already uses every core,
so serialising the calls costs nothing. With the GNU OpenMP layer, a process that has run a
parallel kernel must not ``fork()`` and then run one again: process pools should use the
``forkserver`` or ``spawn`` start method.
"""

from __future__ import annotations

import functools
import threading
from types import ModuleType
from typing import Any, Literal, TypeAlias

import numpy as np

from terrascan.errors import InvalidInputError

Backend: TypeAlias = Literal["auto", "numba", "numpy"]

#: Below this many pixels the "auto" backend uses numpy: thread start-up would dominate.
NUMBA_MIN_PIXELS = 1 << 14

_LOCK = threading.Lock()

# Native-endian dtypes the kernels are compiled for (one compilation per combination used).
_KERNEL_DTYPES = frozenset(
    np.dtype(code) for code in ("u1", "u2", "u4", "u8", "i1", "i2", "i4", "i8", "f4", "f8")
)


@functools.cache
def _numba() -> ModuleType | None:
    """Return the numba module, or None when it is missing or disabled (NUMBA_DISABLE_JIT)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a declared dependency
        return None
    if getattr(numba.config, "DISABLE_JIT", False):
        return None
    return numba


def numba_available() -> bool:
    """Return True when numba can compile kernels in this process."""
    return _numba() is not None


def use_numba(backend: Backend, size: int, *arrays: Any) -> bool:
    """Decide whether a kernel runs with numba for ``size`` pixels of C-contiguous ``arrays``.

    ``backend="numba"`` raises when numba is unavailable or an array is not C-contiguous;
    ``"auto"`` silently falls back to numpy in those cases and for small arrays.
    """
    if backend == "numpy":
        return False
    suitable = all(a.flags.c_contiguous and a.dtype in _KERNEL_DTYPES for a in arrays)
    if backend == "numba":
        if not numba_available():
            raise InvalidInputError("backend='numba' requested but numba is not available")
        if not suitable:
            raise InvalidInputError(
                "backend='numba' needs C-contiguous, native-endian integer or float32/64 arrays"
            )
        return True
    if backend != "auto":
        raise InvalidInputError(f"backend must be 'auto', 'numba' or 'numpy', got {backend!r}")
    return suitable and size >= NUMBA_MIN_PIXELS and numba_available()


def call_parallel(kernel: Any, *args: Any) -> None:
    """Run a compiled parallel kernel under the process-wide kernel lock."""
    with _LOCK:
        kernel(*args)
