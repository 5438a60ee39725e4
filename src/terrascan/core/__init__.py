"""Pure numpy math on arrays: indices, thresholds, change, zonal statistics, corrections,
masks, co-registration. No files, no network, no GDAL, no database, no web.

Modules: :mod:`~terrascan.core.indices` (spectral indices and the ``INDICES`` registry),
:mod:`~terrascan.core.threshold` (block-wise histograms, Otsu),
:mod:`~terrascan.core.change` (differencing, CVA, post-classification),
:mod:`~terrascan.core.zonal`, :mod:`~terrascan.core.correction` (dark-object subtraction),
:mod:`~terrascan.core.masks` (SCL, QA_PIXEL) and :mod:`~terrascan.core.coregistration`.
Nothing is imported here, so ``import terrascan.core.indices`` stays cheap; numba is loaded
only when a large array first asks for a compiled kernel.
"""
