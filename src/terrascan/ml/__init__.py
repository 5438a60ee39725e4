"""Machine learning: datasets, models, training, registry and inference (needs the ml extra)."""
