"""A lock for the rasterio calls that are not safe to make from two threads at once.

Opening a dataset and building an in-memory one (``rasterize``, ``reproject`` into an array)
silence a warning with :class:`warnings.catch_warnings`, which saves and restores the
process-wide filter list and is not thread-safe before Python 3.14: two threads doing it at
once can drop each other's filter, and a warning that should have been silenced escapes (an
error under ``-W error``). Worker threads take :data:`WARNINGS_LOCK` around such calls; they
are short, so taking turns costs nothing measurable.
"""

from __future__ import annotations

import threading

WARNINGS_LOCK = threading.RLock()
