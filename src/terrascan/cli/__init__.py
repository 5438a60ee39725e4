"""The ``terrascan`` command line (Typer). Every capability is reachable from here."""

from __future__ import annotations

from terrascan.cli.app import app, main

__all__ = ["app", "main"]
