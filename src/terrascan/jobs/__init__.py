"""Jobs: specs, runners and the executors that carry them (in-process pool or Celery).

The catalog is the source of truth for every job; executors only move job ids. Start here:

- :func:`terrascan.jobs.system.build_job_system` / :class:`~terrascan.jobs.system.JobSystem`:
  submit, cancel, get and subscribe to jobs (the API keeps one on ``app.state.jobs``);
- :class:`~terrascan.jobs.context.JobContext`: what a runner receives;
- :mod:`terrascan.jobs.registry`: job types (``register(name, SpecModel, run, part=...)``);
- :mod:`terrascan.jobs.celery_app`: the Celery app and ``terrascan worker``.
"""
