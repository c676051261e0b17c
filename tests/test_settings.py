"""dipstick's environment variables, read in one place (dipstick.settings): each one counts,
empty counts as unset, the secret key has one fallback, and the CLI reads them from there."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from dipstick.cli import app
from dipstick.settings import DEFAULT_BASE_URL, secret_key, secret_key_is_set, settings
from dipstick.store import Store, default_url
from dipstick.store.users import authenticate

VARIABLES = ("DIPSTICK_DATABASE_URL", "DIPSTICK_SECRET_KEY", "DIPSTICK_BASE_URL",
             "DIPSTICK_SPARK_MASTER", "DIPSTICK_PASSWORD")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_every_variable_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {"DIPSTICK_DATABASE_URL": "postgresql+psycopg://u@h/db",
              "DIPSTICK_SECRET_KEY": "k" * 40, "DIPSTICK_BASE_URL": "https://dip.example",
              "DIPSTICK_SPARK_MASTER": "spark://h:7077", "DIPSTICK_PASSWORD": "pw 'x'"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DIPSTICK_REQUIRE_POSTGRES", "1")     # not the runtime's: ignored
    s = settings()
    assert (s.database_url, s.base_url, s.spark_master) == (
        "postgresql+psycopg://u@h/db", "https://dip.example", "spark://h:7077")
    assert s.password is not None and s.password.get_secret_value() == "pw 'x'"
    assert "pw" not in repr(s) and "kkkk" not in repr(s)    # secrets stay out of logs
    assert secret_key() == "k" * 40 and secret_key_is_set()
    assert default_url() == "postgresql+psycopg://u@h/db"


def test_unset_or_empty_means_the_documented_defaults(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("DIPSTICK_SECRET_KEY", "")
    monkeypatch.setenv("DIPSTICK_DATABASE_URL", "")
    monkeypatch.chdir(tmp_path)
    s = settings()
    assert (s.database_url, s.base_url, s.spark_master, s.password) == (
        None, DEFAULT_BASE_URL, "local[*]", None)
    assert default_url() == f"sqlite:///{tmp_path / 'dipstick.db'}"
    # one fallback for the secret key: this process's random key, the same for every caller
    assert not secret_key_is_set()
    assert secret_key() == secret_key() and len(secret_key()) >= 32


def test_the_cli_takes_the_database_and_password_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    done = CliRunner().invoke(app, ["users", "create", "ann@example.org", "--role", "admin"],
                              env={"DIPSTICK_DATABASE_URL": url,
                                   "DIPSTICK_PASSWORD": "a long enough password"})
    assert done.exit_code == 0, done.output
    with Store.open(url) as store:
        who = authenticate(store, "ann@example.org", "a long enough password")
    assert who is not None and who.role == "admin"
