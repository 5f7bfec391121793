"""One Settings object for every environment variable Decidua reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from decidua.errors import InputError
from decidua.settings import get_settings

SRC = Path(__file__).resolve().parents[2] / "src" / "decidua"


def test_variables_and_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("DECIDUA_DATABASE_URL", "DECIDUA_DATA_DIR", "DECIDUA_USER", "DECIDUA_EXPORT_KEY"):
        monkeypatch.delenv(var, raising=False)
    s = get_settings()
    assert (s.database_url, s.data_dir, s.user, s.export_key) == (None, Path("var"), None, None)
    assert s.demo_path == Path("var") / "demo.sqlite"
    monkeypatch.setenv("DECIDUA_DATA_DIR", "")  # empty = unset, as before
    monkeypatch.setenv("DECIDUA_EXPORT_KEY", "")
    assert get_settings().data_dir == Path("var") and get_settings().export_key is None
    monkeypatch.setenv("DECIDUA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DECIDUA_DATABASE_URL", "postgresql://u:pw@h/db")
    monkeypatch.setenv("DECIDUA_USER", "asha")
    monkeypatch.setenv("DECIDUA_EXPORT_KEY", "k" * 40)
    s = get_settings()
    assert (s.data_dir, s.user) == (tmp_path, "asha")
    assert s.export_key.get_secret_value() == "k" * 40 and "k" * 40 not in repr(s)
    assert get_settings(user="override").user == "override"


def test_every_reader_of_the_environment_goes_through_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from decidua.io.export import export_key
    from decidua.services.demo import fresh_database  # noqa: F401 (uses Settings.demo_path)
    from decidua.services.users import acting_user
    from decidua.store.session import default_sqlite_path, resolve_url

    monkeypatch.setenv("DECIDUA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DECIDUA_DATABASE_URL", raising=False)
    assert default_sqlite_path() == tmp_path / "decidua.sqlite"
    assert resolve_url() == f"sqlite:///{tmp_path / 'decidua.sqlite'}"
    monkeypatch.setenv("DECIDUA_DATABASE_URL", "postgresql://u@h/db")
    assert resolve_url() == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("DECIDUA_USER", "bob")
    assert acting_user() == "bob"
    monkeypatch.setenv("DECIDUA_EXPORT_KEY", "s" * 32)
    assert export_key() == (b"s" * 32, True)


def test_no_module_reads_the_environment_itself() -> None:
    reads = re.compile(r"environ\.get\(|getenv\(|environ\[")
    found = [
        f"{p.relative_to(SRC)}:{i}"
        for p in SRC.rglob("*.py")
        if p.name != "settings.py" and "migrations" not in p.parts
        for i, line in enumerate(p.read_text().splitlines(), start=1)
        if reads.search(line)
    ]
    assert found == []


def test_a_bad_value_is_an_input_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InputError, match="DECIDUA_DATA_DIR"):
        get_settings(data_dir=["not", "a", "path"])
