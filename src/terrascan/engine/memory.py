"""The C allocator's settings for block-wise runs (glibc only; elsewhere these do nothing).

Each block allocates and frees arrays of a few hundred kilobytes to a few megabytes. glibc's
defaults serve such sizes with ``mmap`` at first and give freed memory back to the system
eagerly, so a whole-scene run faults in fresh pages for almost every block; on virtual machines
that is expensive (a CVA + Otsu run of a 10980 x 10980 pair spent 3.5 s of its 8 s of CPU in
the kernel). :func:`tune_allocator` keeps block-sized allocations on the heap and stops the
eager trimming, once per process; :func:`release_memory` hands what a finished run freed back
to the system, so a long-lived process (the API, a worker) does not keep it.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from typing import Any

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Allocations below this come from the heap (numpy's block arrays, decoded tiles).
MMAP_THRESHOLD = 64 * 1024**2
#: Free memory at the top of the heap kept for the next block instead of trimmed.
TRIM_THRESHOLD = 1024**3


@functools.cache
def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        return libc
    except (OSError, AttributeError):  # not glibc (musl has neither)
        return None


@functools.cache
def tune_allocator() -> bool:
    """Keep block-sized allocations on the heap (once per process). True if applied."""
    libc = _libc()
    if libc is None:
        return False
    ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return bool(ok and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)


def release_memory() -> None:
    """Return the heap memory a finished run freed to the system."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
