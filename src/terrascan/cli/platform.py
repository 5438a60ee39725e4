"""Platform commands: serve, db, user, version."""

from __future__ import annotations

import typer

import terrascan

db_app = typer.Typer(help="Manage the catalog database.", no_args_is_help=True)
user_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)


def version() -> None:
    """Print the TerraScan version."""
    typer.echo(terrascan.__version__)


def serve(
    host: str | None = typer.Option(None, help="Interface to bind (default TERRASCAN_HOST)."),
    port: int | None = typer.Option(
        None, min=1, max=65535, help="Port to listen on (default TERRASCAN_PORT)."
    ),
    demo: bool = typer.Option(
        False, "--demo", help="Seed a demo user with a generated pair of scenes (offline)."
    ),
) -> None:
    """Start the API, the web app and the in-process job worker (embedded defaults)."""
    import uvicorn

    from terrascan.api.app import create_app
    from terrascan.settings import get_settings

    settings = get_settings()
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    app = create_app(settings)
    if demo:
        from terrascan.jobs.demo import seed_demo

        seeded = seed_demo(app.state.catalog, app.state.store)
        password = seeded["password"] or "(set when the demo was first seeded)"
        typer.echo(f"  demo: sign in as {seeded['email']} with password {password}")
    typer.echo(f"TerraScan {terrascan.__version__} at http://{settings.host}:{settings.port}/")
    typer.echo(f"  catalog: {_redact(settings.resolved_database_url)}")
    typer.echo(f"  storage: {settings.resolved_storage_url}")
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


def db_upgrade(
    revision: str = typer.Argument("head", help="Alembic revision to upgrade to."),
) -> None:
    """Apply the catalog migrations."""
    from terrascan.catalog.database import Catalog
    from terrascan.settings import get_settings

    settings = get_settings()
    catalog = Catalog(settings.resolved_database_url)
    catalog.upgrade(revision)
    typer.echo(f"catalog at {_redact(settings.resolved_database_url)} is at {revision}")


def user_create(
    email: str = typer.Option(..., help="The user's email address (their login)."),
    name: str = typer.Option("", help="Display name."),
    password: str = typer.Option(
        ..., prompt=True, hide_input=True, confirmation_prompt=True, help="Password."
    ),
    superuser: bool = typer.Option(False, help="Make the user a platform administrator."),
) -> None:
    """Create a user with a personal organisation."""
    from terrascan.catalog.database import Catalog
    from terrascan.catalog.repositories import UserRepository
    from terrascan.passwords import hash_password, validate_email
    from terrascan.settings import get_settings

    email = validate_email(email)
    password_hash = hash_password(password)
    catalog = Catalog(get_settings().resolved_database_url)
    catalog.upgrade()
    with catalog.session() as session:
        user = UserRepository(session).create(
            email=email, name=name, password_hash=password_hash, is_superuser=superuser
        )
        typer.echo(f"created user {user.email} ({user.id})")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(version)
    db_app.command("upgrade")(db_upgrade)
    user_app.command("create")(user_create)
    app.add_typer(db_app, name="db")
    app.add_typer(user_app, name="user")
