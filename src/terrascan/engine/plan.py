"""The window plan: which blocks a run reads, computes and writes, and in what order.

Windows tile the output grid from its origin. Their edges fall on the 512 x 512 tiles of the
output COG (the writer encodes whole tiles), and on the inputs' internal tiles whenever those
divide 512 or are multiples of it (Sentinel-2 COGs use 1024, GDAL's default is 256, TerraScan's
512), so each input tile is decoded once. Strips are read as whole-width bands of about 512
rows when that is not too wide. Windows come in row-major order.
"""

from __future__ import annotations

from rasterio.windows import Window

from terrascan.io.cog import BLOCKSIZE

#: Windows are at most this many pixels on a side (bounds the memory of one block).
MAX_WINDOW = 2048
#: Whole-width strip windows are used up to this width.
MAX_STRIP_WIDTH = 8192


def _step(block: int, size: int) -> int:
    """The window length along one axis for an input block length."""
    if block >= size:  # one block spans the axis (strips, or a small raster)
        return size if size <= MAX_STRIP_WIDTH else MAX_WINDOW
    if block > BLOCKSIZE and block % BLOCKSIZE == 0:
        return min(block, MAX_WINDOW)
    return BLOCKSIZE


def plan_windows(height: int, width: int, block_shape: tuple[int, int]) -> list[Window]:
    """Row-major windows covering ``height`` x ``width`` for inputs tiled by ``block_shape``."""
    rows = _step(block_shape[0], height) if block_shape[1] < width else BLOCKSIZE
    cols = _step(block_shape[1], width)
    rows = max(BLOCKSIZE, rows - rows % BLOCKSIZE) if rows < height else rows
    windows = []
    for row in range(0, height, rows):
        for col in range(0, width, cols):
            windows.append(Window(col, row, min(cols, width - col), min(rows, height - row)))
    return windows
