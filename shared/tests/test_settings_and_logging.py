"""Settings read secrets from env and files; logs are JSON lines that never show a secret."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from shared.kit.logging import configure_logging, log_context
from shared.kit.settings import SecretFileError, ServiceSettings


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")

    api_token: SecretStr | None = None


def test_settings_read_the_service_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_REDIS_URL", "redis://10.0.0.5:6379/0")
    monkeypatch.setenv("REDIS_URL", "redis://wrong:1/0")
    assert DemoSettings().redis_url == "redis://10.0.0.5:6379/0"


def test_secret_is_read_from_the_file_named_by_its_FILE_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-from-file\n")
    monkeypatch.setenv("DEMO_API_TOKEN_FILE", str(secret))
    settings = DemoSettings()
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "s3cr3t-from-file"
    assert "s3cr3t" not in repr(settings)


def test_an_unreadable_secret_file_is_an_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DEMO_API_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(SecretFileError, match="DEMO_API_TOKEN_FILE"):
        DemoSettings()


def test_secrets_dir_files_named_prefix_and_field_are_read_as_docker_secrets(
    tmp_path: Path,
) -> None:
    (tmp_path / "demo_api_token").write_text("from-secrets-dir")
    settings = DemoSettings(_secrets_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "from-secrets-dir"


def test_defaults_are_the_safe_ones() -> None:
    settings = DemoSettings()
    assert settings.ops_host == "127.0.0.1"
    assert settings.redis_password is None


def _capture(secrets: list[str]) -> tuple[io.StringIO, logging.Logger]:
    out = io.StringIO()
    configure_logging("demo", "DEBUG", secrets, stream=out)
    return out, logging.getLogger("demo.test")


def test_a_secret_value_never_reaches_a_log_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_API_TOKEN", "tok-9f8e7d6c5b4a")
    monkeypatch.setenv("DEMO_REDIS_PASSWORD", "redis-pa$$word")
    settings = DemoSettings()
    out, log = _capture(settings.secret_values())
    log.info("settings: %s", settings)
    log.info("settings dump: %s", settings.model_dump())
    log.warning("raw value slipped into a message: tok-9f8e7d6c5b4a")
    log.info("in an extra field", extra={"auth": "Bearer tok-9f8e7d6c5b4a"})
    try:
        raise ConnectionError("AUTH redis-pa$$word refused")
    except ConnectionError:
        log.exception("connect failed")
    text = out.getvalue()
    assert len(text.splitlines()) == 5
    assert "tok-9f8e7d6c5b4a" not in text
    assert "redis-pa$$word" not in text
    assert "***" in text


def test_log_lines_are_json_with_service_level_and_trace_fields() -> None:
    out, log = _capture([])
    with (
        log_context(correlation_id="c-1", plan_id="pl-1", account_id="DU1"),
        log_context(client_order_id="pl-1.0.0"),
    ):
        log.info("order sent", extra={"symbol": "SPY"})
    log.info("outside")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["service"] == "demo"
    assert first["level"] == "INFO"
    assert first["message"] == "order sent"
    assert first["correlation_id"] == "c-1"
    assert first["plan_id"] == "pl-1"
    assert first["account_id"] == "DU1"
    assert first["client_order_id"] == "pl-1.0.0"
    assert first["symbol"] == "SPY"
    assert "plan_id" not in second
