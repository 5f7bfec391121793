"""Shared pieces of the plate readers: decoding, well names, the plate map, PlateData."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from decidua.assays.elisa.plate import ROLES, Mask, PlateData, Well
from decidua.errors import InputError, Problem

ROW_LETTERS = "ABCDEFGHIJKLMNOP"
_NUM_RE = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
MAP_COLUMNS = ("well", "role", "concentration", "dilution", "sample", "group", "plate", "analyte",
               "masked_by", "mask_reason")


def decode(data: bytes) -> str:
    """Text of a reader export: UTF-16 (BOM or NUL pattern), UTF-8 (BOM allowed), else Latin-1."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16")
    if len(data) > 3 and data[1:2] == b"\x00" and data[3:4] == b"\x00":
        return data.decode("utf-16-le")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def well_name(row: int, col: int) -> str:
    """``(0, 0) -> "A1"``."""
    return f"{ROW_LETTERS[row]}{col + 1}"


def parse_number(text: str | None) -> float | None:
    """A plain decimal number, or ``None`` if the text is not one (``NaN`` text -> NaN)."""
    if text is None:
        return None
    t = text.strip()
    if t.lower() == "nan":
        return float("nan")
    return float(t) if _NUM_RE.match(t) else None


_WELL_RE = re.compile(r"^([A-Pa-p])0*(\d{1,2})$")


def normalise_well(text: str) -> str | None:
    """``"a01" -> "A1"``; ``None`` when not a well name."""
    m = _WELL_RE.match(text.strip())
    return f"{m.group(1).upper()}{int(m.group(2))}" if m else None


@dataclass(frozen=True)
class WellInfo:
    """What a file or plate map says about a well."""

    role: str
    concentration: float | None = None
    dilution: float = 1.0
    sample: str | None = None
    group: str | None = None


@dataclass
class ReadPlate:
    """One plate as read: raw response text per well, the file's layout and masks.

    ``values`` holds every well of the plate (``None`` for empty cells), so
    a plate map naming another well is caught.
    """

    plate: str
    values: dict[str, str | None]
    source: str
    layout: dict[str, WellInfo] = field(default_factory=dict)
    masks: dict[str, Mask] = field(default_factory=dict)
    analyte: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MapRow:
    """One plate-map row."""

    row: int
    well: str
    info: WellInfo
    plate: str | None
    analyte: str | None
    mask: Mask | None


def read_plate_map(path: str | Path) -> list[MapRow]:
    """Read a plate-map CSV (columns :data:`MAP_COLUMNS`; ``well`` and ``role`` required).

    ``role`` is one of standard / blank / sample / control / empty;
    ``concentration`` is required for standards (in-well, assay units);
    ``dilution`` defaults to 1; ``sample`` names the sample (wells with the
    same sample are replicates); ``plate`` restricts a row to one plate;
    ``masked_by`` + ``mask_reason`` mask a well.

    Raises
    ------
    InputError
        Every bad row, with file, row and column.
    """
    from decidua.io.readers import read_table

    p = Path(path)
    table = read_table(p)  # the one table reader: CSV/TSV/XLSX checks, spreadsheet rows
    header = list(table.columns)
    problems: list[Problem] = []
    for req in ("well", "role"):
        if req not in header:
            problems.append(Problem(f"the plate map needs a {req!r} column", str(p), 1, req))
    unknown = [h for h in header if h and h not in MAP_COLUMNS]
    for h in unknown:
        problems.append(Problem(f"unknown plate-map column (known: {', '.join(MAP_COLUMNS)})",
                                str(p), 1, h))
    if problems:
        raise InputError(problems)
    out: list[MapRow] = []
    seen: dict[tuple[str | None, str], int] = {}
    for i, raw in table.rows:
        rec = {h: v or "" for h, v in raw.items()}
        well = normalise_well(rec.get("well", ""))
        if well is None:
            problems.append(
                Problem("not a well name (e.g. B3)", str(p), i, "well", rec.get("well"))
            )
            continue
        role = rec.get("role", "").lower()
        if role not in ROLES:
            problems.append(Problem(f"role must be one of {', '.join(ROLES)}", str(p), i, "role",
                                    rec.get("role")))
            continue
        conc = None
        if rec.get("concentration"):
            conc = parse_number(rec["concentration"])
            if conc is None or math.isnan(conc) or conc < 0:
                problems.append(Problem("concentration must be a number >= 0", str(p), i,
                                        "concentration", rec["concentration"]))
                continue
        if role == "standard" and conc is None:
            problems.append(Problem("a standard needs a concentration", str(p), i, "concentration"))
            continue
        dil = 1.0
        if rec.get("dilution"):
            d = parse_number(rec["dilution"])
            if d is None or not math.isfinite(d) or d <= 0:
                problems.append(Problem("dilution must be a number > 0", str(p), i, "dilution",
                                        rec["dilution"]))
                continue
            dil = d
        plate = rec.get("plate") or None
        key = (plate, well)
        if key in seen:
            problems.append(Problem(f"well {well} is already mapped on row {seen[key]}", str(p), i,
                                    "well", rec.get("well")))
            continue
        seen[key] = i
        mask = None
        if rec.get("masked_by") or rec.get("mask_reason"):
            if not (rec.get("masked_by") and rec.get("mask_reason")):
                problems.append(Problem("a mask needs both masked_by and mask_reason", str(p), i,
                                        "mask_reason"))
                continue
            mask = Mask(rec["masked_by"], rec["mask_reason"])
        out.append(
            MapRow(i, well, WellInfo(role, conc, dil, rec.get("sample") or None,
                                     rec.get("group") or None),
                   plate, rec.get("analyte") or None, mask)
        )
    if problems:
        raise InputError(problems)
    if not out:
        raise InputError("the plate map has no rows", file=str(p))
    return out


def to_plate_data(
    rp: ReadPlate, plate_map: list[MapRow] | None = None, analyte: str | None = None
) -> PlateData:
    """Combine a read plate with its layout (the map's, else the file's) into a :class:`PlateData`.

    Raises
    ------
    InputError
        A map naming wells not on the plate; a non-numeric OD in a well
        that has a role (naming plate, well and field ``od``).
    """
    layout = dict(rp.layout)
    masks = dict(rp.masks)
    problems: list[Problem] = []

    def where(well: str, fld: str) -> str:
        return f"plate {rp.plate!r}, well {well}, field {fld!r}"

    if plate_map is not None:
        rows = [r for r in plate_map if r.plate in (None, rp.plate)]
        if not rows:
            raise InputError(f"plate {rp.plate!r}: the plate map has no rows for this plate",
                             file=rp.source)
        layout = {}
        for r in rows:
            if r.well not in rp.values:
                problems.append(Problem(f"{where(r.well, 'well')}: the plate map names a well "
                                        f"that is not on the plate (map row {r.row})",
                                        rp.source, value=r.well))
                continue
            layout[r.well] = r.info
            if r.mask is not None:
                masks[r.well] = r.mask
            analyte = analyte or r.analyte
    wells = []
    for name, info in layout.items():
        if info.role == "empty":
            continue
        text = rp.values.get(name)
        val = parse_number(text)
        if val is None or (math.isnan(val) and name not in masks):
            if name in masks:
                val = float("nan")
            else:
                problems.append(Problem(f"{where(name, 'od')}: OD is not a number", rp.source,
                                        value=text))
                continue
        wells.append(Well(name, info.role, val, info.concentration, info.dilution,
                          info.sample, info.group, masks.get(name)))
    if problems:
        raise InputError(problems)
    return PlateData(rp.plate, tuple(wells), analyte=analyte or rp.analyte, source=rp.source,
                     meta=rp.meta)


__all__ = ["MAP_COLUMNS", "MapRow", "ReadPlate", "WellInfo", "decode", "normalise_well",
           "parse_number", "read_plate_map", "to_plate_data", "well_name"]
