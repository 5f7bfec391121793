"""Decidua: pre-pregnancy endometrial screening in recurrent pregnancy loss.

Research use only; not a diagnostic device.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("decidua")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

RESEARCH_USE_LABEL = "Research use only; not a diagnostic device."

__all__ = ["RESEARCH_USE_LABEL", "__version__"]
