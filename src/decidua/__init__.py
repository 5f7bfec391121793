"""Decidua: pre-pregnancy endometrial screening in recurrent pregnancy loss.

Research use only; not a diagnostic device.
"""

from __future__ import annotations

from typing import Any

RESEARCH_USE_LABEL = "Research use only; not a diagnostic device."

__all__ = ["RESEARCH_USE_LABEL", "__version__"]


def __getattr__(name: str) -> Any:
    # The version is read from the package metadata on first use (not on import).
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value = version("decidua")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            value = "0.0.0+unknown"
        globals()["__version__"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
