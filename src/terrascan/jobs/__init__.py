"""Job specs, runners and executors (in-process pool or Celery)."""
