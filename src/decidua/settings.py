"""Decidua's settings: every environment variable it reads, in one place.

========================  ===========================================  ==================
variable                  meaning                                      default
========================  ===========================================  ==================
``DECIDUA_DATABASE_URL``  database URL (SQLite or PostgreSQL)          the embedded file
``DECIDUA_DATA_DIR``      directory of the embedded database and demo  ``./var``
``DECIDUA_USER``          the acting user                              ``local:<login>``
``DECIDUA_EXPORT_KEY``    key of stable export pseudonyms/date shifts  a random key
========================  ===========================================  ==================

Settings are read when a command needs them (:func:`get_settings`), never on
import, so ``decidua --help`` does not load pydantic. Each call reads the
environment afresh (it is cheap), so a changed variable is seen at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import SecretStr

ENV_PREFIX = "DECIDUA_"

_settings_class: Any = None


def _build_class() -> Any:
    from pydantic import Field, SecretStr, field_validator  # noqa: F401  (annotation below)
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Settings(BaseSettings):
        """Decidua's environment (see the module docstring for the variables)."""

        model_config = SettingsConfigDict(
            env_prefix=ENV_PREFIX, extra="ignore", frozen=True
        )

        database_url: str | None = Field(None, description="Database URL.")
        data_dir: Path = Field(Path("var"), description="Embedded database and demo directory.")
        user: str | None = Field(None, description="The acting user.")
        export_key: SecretStr | None = Field(None, description="Export pseudonym key.")
        web_database_url: str | None = Field(
            None, description="Database URL handed by `decidua serve` to its web workers.")
        secret_key: SecretStr | None = Field(None, description="Web session signing key.")

        @field_validator("database_url", "user", "export_key", "web_database_url", "secret_key",
                         mode="before")
        @classmethod
        def _empty_is_unset(cls, value: Any) -> Any:
            return None if value == "" else value

        @field_validator("data_dir", mode="before")
        @classmethod
        def _empty_dir_is_default(cls, value: Any) -> Any:
            return "var" if value == "" else value

        @property
        def sqlite_path(self) -> Path:
            """The embedded database: ``<data_dir>/decidua.sqlite``."""
            return self.data_dir / "decidua.sqlite"

        @property
        def demo_path(self) -> Path:
            """The demo database: ``<data_dir>/demo.sqlite``."""
            return self.data_dir / "demo.sqlite"

    return Settings


def settings_class() -> Any:
    """The pydantic-settings class (built on first use)."""
    global _settings_class
    if _settings_class is None:
        _settings_class = _build_class()
    return _settings_class


def get_settings(**overrides: Any) -> Any:
    """The current settings, read from the environment now.

    Parameters
    ----------
    overrides
        Values that take precedence over the environment (tests, the web app).

    Raises
    ------
    InputError
        If a variable has a value of the wrong type.
    """
    from pydantic import ValidationError

    from decidua.errors import InputError, Problem

    try:
        return settings_class()(**overrides)
    except ValidationError as exc:
        raise InputError(
            [
                Problem(e.get("msg", "invalid value"),
                        column=ENV_PREFIX + str(e["loc"][0]).upper() if e.get("loc") else None)
                for e in exc.errors(include_url=False)
            ]
        ) from None


def export_key_secret() -> SecretStr | None:
    """``DECIDUA_EXPORT_KEY`` (``None`` when unset or empty)."""
    return get_settings().export_key


def __getattr__(name: str) -> Any:
    if name == "Settings":
        return settings_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
