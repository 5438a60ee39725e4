"""Reproducible benchmarks: each module's ``main()`` prints figures beside a baseline measured
in the same run, as a ratio. ``python -m benchmarks [--quick] [NAME ...]`` runs them all."""
