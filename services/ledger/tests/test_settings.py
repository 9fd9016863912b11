"""Ledger settings: which database, the secret URL never shown, clear errors on bad values."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from ledger.main import store_for
from ledger.settings import LedgerSettings
from ledger.store.postgres import PostgresLedgerStore
from ledger.store.sqlite import SqliteLedgerStore
from rebalancer_cli.embedded_redis import free_port

SECRET_URL = "postgresql://ledger:s3cr3t-pw@db.internal:5432/ledger"


def test_no_database_url_means_the_embedded_sqlite_file(tmp_path: Path) -> None:
    settings = LedgerSettings(data_dir=tmp_path)
    store = store_for(settings)
    assert isinstance(store, SqliteLedgerStore)
    assert store.path == tmp_path / "ledger.sqlite3"


def test_a_postgresql_url_chooses_postgresql_and_is_never_shown() -> None:
    settings = LedgerSettings(database_url=SECRET_URL)
    assert isinstance(store_for(settings), PostgresLedgerStore)
    assert "s3cr3t" not in repr(settings)
    assert "s3cr3t" not in str(settings.model_dump())
    assert SECRET_URL in settings.secret_values()


def test_the_url_can_come_from_a_secret_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "url"
    secret.write_text(SECRET_URL + "\n")
    monkeypatch.setenv("LEDGER_DATABASE_URL_FILE", str(secret))
    assert LedgerSettings().database_url.get_secret_value() == SECRET_URL


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("database_url", "mysql://root:hunter2@db/ledger", "postgresql://"),
        ("trading_day_tz", "Mars/Olympus", "not a time zone name"),
    ],
)
def test_bad_values_are_refused_with_a_sentence(field: str, value: str, says: str) -> None:
    with pytest.raises(ValidationError) as error:
        LedgerSettings(**{field: value})
    assert says in str(error.value)
    assert "hunter2" not in str(error.value)


async def test_an_unreachable_postgresql_is_a_health_sentence_not_a_crash() -> None:
    store = PostgresLedgerStore(f"postgresql://ledger@127.0.0.1:{free_port()}/ledger", 1)
    answer = await store.ping()
    assert isinstance(answer, str)
    assert "does not answer" in answer
    await store.close()
