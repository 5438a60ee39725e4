"""Settings come from TERRASCAN_* variables; secrets are generated once or refused."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from terrascan.api.app import create_app
from terrascan.errors import ConfigurationError
from terrascan.settings import DEFAULT_STAC_API_URL, Settings


def test_environment_prefix_and_comma_lists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TERRASCAN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TERRASCAN_PORT", "8123")
    monkeypatch.setenv("TERRASCAN_ASSET_HOSTS", "a.example.org, b.example.org")
    monkeypatch.setenv("TERRASCAN_CORS_ORIGINS", "https://x.example.org")
    settings = Settings()
    assert settings.port == 8123
    assert settings.asset_hosts == ["a.example.org", "b.example.org"]
    assert settings.cors_origins == ["https://x.example.org"]
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'terrascan.db'}"
    assert settings.resolved_storage_url == str(tmp_path / "storage")
    assert settings.stac_api_url == DEFAULT_STAC_API_URL
    assert not settings.is_production


def test_production_is_inferred_from_services(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, broker_url="redis://127.0.0.1:6379/0").is_production
    assert Settings(data_dir=tmp_path, database_url="postgresql://db/terrascan").is_production
    assert not Settings(
        data_dir=tmp_path, database_url="postgresql://db/x", mode="embedded"
    ).is_production


def test_embedded_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).resolve_secret_key()
    second = Settings(data_dir=tmp_path).resolve_secret_key()
    assert first == second and len(first) >= 48
    mode = stat.S_IMODE((tmp_path / "secret_key").stat().st_mode)
    assert mode == 0o600
    assert Settings(data_dir=tmp_path / "other").resolve_secret_key() != first


@pytest.mark.parametrize("secret", ["", "changeme", "secret", "short-but-random-9f8e"])
def test_production_refuses_default_or_weak_secrets(tmp_path: Path, secret: str) -> None:
    settings = Settings(data_dir=tmp_path, mode="production", secret_key=secret)
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        settings.resolve_secret_key()
    with pytest.raises(ConfigurationError):
        create_app(settings)


def test_production_accepts_a_strong_secret(tmp_path: Path) -> None:
    strong = "k" * 16 + "9f8e7d6c5b4a3f2e1d0c"
    assert (
        Settings(data_dir=tmp_path, mode="production", secret_key=strong).resolve_secret_key()
        == strong
    )
