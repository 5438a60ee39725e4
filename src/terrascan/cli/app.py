"""The Typer application and the way errors become exit codes."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from terrascan.cli import imagery, jobs, platform, raster
from terrascan.errors import (
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    TerraScanError,
    TooLargeError,
    UnsupportedFormatError,
)

app = typer.Typer(
    name="terrascan",
    help="TerraScan: search, ingest and analyse satellite imagery.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
platform.register(app)
jobs.register(app)
imagery.register(app)
raster.register(app)

#: Errors caused by what the user typed exit with 2, like any other usage error.
USAGE_ERRORS = (InvalidInputError, NotFoundError, TooLargeError, UnsupportedFormatError)
err_console = Console(stderr=True)


def main() -> None:
    try:
        app()
    except TerraScanError as exc:
        err_console.print(
            f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        sys.exit(2 if isinstance(exc, (*USAGE_ERRORS, ConfigurationError)) else 1)
