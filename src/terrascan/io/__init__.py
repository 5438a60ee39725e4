"""The only layer that opens things: sensors, raster readers, the COG writer, object storage,
the STAC client, vector export."""
