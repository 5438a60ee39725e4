"""The single-page web app: built from ``frontend/`` into ``static/`` (not committed; ``make run``
and ``make test`` build it), and a one-page ``fallback/`` served when it has not been built."""

from __future__ import annotations

from pathlib import Path

BUILT_DIR = Path(__file__).parent / "static"
FALLBACK_DIR = Path(__file__).parent / "fallback"


def web_root() -> Path:
    """The folder to serve at ``/``: the built app when there is one, else the fallback page."""
    return BUILT_DIR if (BUILT_DIR / "index.html").is_file() else FALLBACK_DIR
