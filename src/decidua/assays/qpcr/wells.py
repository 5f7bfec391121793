"""Plate records shared by every qPCR reader and the arithmetic (pure: no I/O).

A reader turns an instrument file into a :class:`Plate` of :class:`Well`
records (one per well and target: a multiplex well gives one record per
target). Nothing here knows about file formats.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

#: Well tasks after normalisation of each vendor's vocabulary.
TASKS = ("unknown", "standard", "ntc", "nrt", "positive", "negative")

# Vendor words for a well's role -> normalised task. RDML 1.0-1.4 sample types
# (unkn, ntc, nac, std, ntp, nrt, pos, opt), QuantStudio/7500 Task column
# (UNKNOWN, STANDARD, NTC, ...), Bio-Rad CFX Content column (Unkn, Std, NTC, Pos,
# Neg, NRT, optionally numbered "Unkn-01").
_TASK_WORDS = {
    "unkn": "unknown", "unknown": "unknown", "sample": "unknown", "opt": "unknown",
    "std": "standard", "standard": "standard",
    "ntc": "ntc", "nac": "ntc", "ntp": "ntc", "no template control": "ntc",
    "nrt": "nrt", "no rt": "nrt", "-rt": "nrt",
    "pos": "positive", "positive": "positive", "positive control": "positive",
    "ipc": "positive", "blockedipc": "negative",
    "neg": "negative", "negative": "negative", "negative control": "negative",
}

_WELL_RE = re.compile(r"^\s*([A-Za-z]{1,2})\s*0*([0-9]{1,3})\s*$")


def normalise_task(text: str | None) -> str | None:
    """Map a vendor task / sample-type word to one of :data:`TASKS` (``None`` if unknown)."""
    if text is None or not str(text).strip():
        return "unknown"
    word = str(text).strip().lower()
    word = re.sub(r"[-_ ]?\d+$", "", word)  # CFX "Unkn-01", "Std-3"
    return _TASK_WORDS.get(word)


def normalise_well(text: str, *, rows: int = 16, columns: int = 24) -> str | None:
    """``"A01"``, ``"a1"``, ``" A 1 "`` -> ``"A1"``; ``None`` if not a well name on the plate.

    Parameters
    ----------
    rows, columns
        Plate size (96-well: 8 x 12; 384-well: 16 x 24). Names outside it give ``None``.
    """
    m = _WELL_RE.match(str(text))
    if not m:
        return None
    letters, number = m.group(1).upper(), int(m.group(2))
    row = 0
    for ch in letters:
        row = row * 26 + (ord(ch) - 64)
    if not (1 <= row <= rows and 1 <= number <= columns):
        return None
    return f"{letters}{number}"


def well_from_index(index: int, columns: int) -> str:
    """1-based row-major well number -> name (``1`` -> ``A1``; 96-well ``13`` -> ``B1``)."""
    r, c = divmod(int(index) - 1, int(columns))
    return f"{_row_letters(r)}{c + 1}"


def _row_letters(r: int) -> str:
    letters = ""
    r += 1
    while r:
        r, rem = divmod(r - 1, 26)
        letters = string.ascii_uppercase[rem] + letters
    return letters


@dataclass(frozen=True)
class Well:
    """One target measured in one well.

    Attributes
    ----------
    well
        Plate position, normalised (``"A1"``).
    sample
        Sample name as the instrument wrote it (empty for unnamed controls).
    target
        Target (gene / assay) name as written.
    cq
        Quantification cycle, or ``None`` when the instrument gave none
        (``Undetermined``, a missing element, or a sentinel: see ``flags``).
    task
        One of :data:`TASKS`.
    quantity
        Known input quantity of a standard (any unit), else ``None``.
    row
        Where the record sits in the source (spreadsheet row, or the RDML
        ``react`` index) for error messages.
    omitted
        The instrument user excluded the well (QuantStudio ``Omit = true``).
    flags
        Reader observations, e.g. ``"undetermined"``, ``"cq sentinel 40.0"``.
    """

    well: str
    sample: str
    target: str
    cq: float | None
    task: str = "unknown"
    quantity: float | None = None
    row: int | None = None
    omitted: bool = False
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plate:
    """The wells of one run (one plate = one batch) with where they came from.

    Attributes
    ----------
    path
        The file as given (used in messages).
    sha256
        Checksum of the file's bytes (provenance).
    format
        Reader that produced it (``"rdml"``, ``"quantstudio"``, ``"cfx"``, ``"long-csv"``).
    wells
        Every well record, in file order.
    instrument
        Instrument / software as the file states it, if it does.
    format_version
        E.g. the RDML version (``"1.1"``).
    vendor
        Analysis settings the instrument software wrote (e.g.
        ``{"endogenous_control": "GAPDH", "reference_sample": "Liver"}``).
    """

    path: str
    sha256: str
    format: str
    wells: tuple[Well, ...]
    instrument: str | None = None
    format_version: str | None = None
    vendor: dict[str, str] = field(default_factory=dict)

    @property
    def samples(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(w.sample for w in self.wells))

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(w.target for w in self.wells))
