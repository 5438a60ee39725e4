"""Pure numpy math on arrays: indices, thresholds, change, zonal statistics, corrections,
masks, co-registration. No files, no network, no GDAL, no database, no web."""
