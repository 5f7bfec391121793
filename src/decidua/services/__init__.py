"""Use cases: the one place where the CLI and the web application meet the store.

Every function takes an open database ``session`` (the caller owns the
transaction: :func:`decidua.store.session.session_scope`) and the acting user
``actor`` (a user name, recorded in the audit trail), and returns plain data
or result objects; none prints, parses options or formats for a terminal.
Functions that read only files (``risk.assess``, ``methylation.summarize_files``)
take neither.

Modules (imported lazily, so ``import decidua.services`` is cheap):

``access``    who may run what (the one role table)
``biopsies``  one biopsy's stored results
``database``  schema checks and upgrade, verified backup / restore, a downgrade that keeps data safe
``patients``  list patients, one woman's timeline
``biopsies``  qPCR results stored on biopsies, timing placement, one biopsy's results
``imports``   import a file (all-or-nothing)
``risk``      recurrence risk (inputs, a stored woman, history) and care pathway
``export``    pseudonymous research export
``reports``   patient reports (PDF / HTML) from stored records
``users``     user accounts and the acting user
``demo``      the bundled synthetic demo cohort
``methylation`` summarise call files and BAMs, M-bias, compare groups, score
``timing``    fit / place timing references
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = (
    "biopsies", "database", "demo", "export", "imports", "methylation", "patients", "reports",
    "risk", "timing", "users",
)  # fmt: skip

__all__ = list(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])
