"""``terrascan worker``: a Celery worker that runs jobs from the broker (production)."""

from __future__ import annotations

import typer


def worker(
    concurrency: int | None = typer.Option(
        None, min=1, max=256, help="Processes or threads (default TERRASCAN_WORKER_POOL_SIZE)."
    ),
    pool: str = typer.Option(
        "prefork", help="Celery pool: prefork (processes), threads or solo (one at a time)."
    ),
    loglevel: str = typer.Option("INFO", help="Log level of the worker."),
    reconcile: bool = typer.Option(
        True, help="Run the reconciler (requeues jobs of dead workers) in this worker."
    ),
) -> None:
    """Start a Celery worker on TERRASCAN_BROKER_URL: runs jobs and parts of split jobs."""
    from terrascan.errors import ConfigurationError, InvalidInputError
    from terrascan.settings import get_settings

    if pool not in ("prefork", "solo", "threads"):
        raise InvalidInputError("--pool must be prefork, threads or solo")
    settings = get_settings()
    if not settings.broker_url:
        raise ConfigurationError(
            "terrascan worker needs TERRASCAN_BROKER_URL (without a broker, `terrascan serve` "
            "runs jobs in its own process)"
        )
    from terrascan.jobs.celery_app import run_worker

    run_worker(
        settings, concurrency=concurrency, pool=pool, loglevel=loglevel.upper(), reconcile=reconcile
    )


def register(app: typer.Typer) -> None:
    app.command()(worker)
