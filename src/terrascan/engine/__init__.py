"""Block-wise execution of core operations over rasters too large for memory."""
