"""TerraScan: a self-hostable satellite imagery analysis platform."""

from terrascan.gdalenv import configure_gdal_environment

__version__ = "0.1.0"

# GDAL and PROJ read their configuration when the library is first loaded, so the safe
# defaults must be in the environment before anything imports rasterio.
configure_gdal_environment()

__all__ = ["__version__"]
