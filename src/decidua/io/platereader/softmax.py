"""Molecular Devices SoftMax Pro text exports (``##BLOCKS= n`` files, UTF-16 or UTF-8).

Blocks end with ``~End``. ``Plate:`` blocks: a header line (name, version,
``PlateFormat`` / ``TimeFormat``, read type, mode, ``Raw`` / ``Reduced``,
..., number of wavelengths, the wavelengths, first column, columns, plate
size, first row, rows), then the data: in plate format one line per row
with each wavelength's columns side by side (separated by an empty cell);
in time format one line per wavelength with a column per well. Only the
first data table of a block is read (a second one, when present, repeats
the values at full precision as reduced data).

Wavelengths: ``wavelength_nm`` / ``reference_nm`` choose the read and the
reference to subtract. By default, raw absorbance with exactly two
wavelengths gives first minus second (e.g. 450 - 570 nm, the usual ELISA
correction); otherwise the first wavelength is used alone (fluorescence and
luminescence channels are never subtracted unless asked). Reduced data is
used as it is.

``Group:`` blocks give the layout: a header line, rows with ``Sample``
(carried down blank rows), ``Well``/``Wells``, the value column
(``Masked`` marks a masked well), a concentration column for standards
(``Conc``, ``Concentration ...``, ``Standard Value ...``), an optional
``Dilution`` column and ``WellPlateName`` on multi-plate files. A group is
the standards when its name contains ``std`` or ``standard``; blanks
(``blank``), controls (``control``, ``ctrl``, ``qc``, ``spike``), otherwise
samples.
"""

from __future__ import annotations

import re
from pathlib import Path

from decidua.assays.elisa.plate import Mask
from decidua.errors import InputError
from decidua.io.platereader.common import (
    ROW_LETTERS,
    ReadPlate,
    WellInfo,
    decode,
    normalise_well,
    parse_number,
)

_WL_LIST = re.compile(r"^\s*\d+(\s+\d+)*\s*$")
_SIZES = {"6", "12", "24", "48", "96", "384"}
MASK_BY = "SoftMax Pro"
MASK_REASON = "masked in the SoftMax Pro file"


def _blocks(lines: list[str]) -> list[list[str]]:
    blocks, cur = [], None
    for line in lines:
        if cur is None:
            if line.startswith(("Plate:", "Group:", "Note:")):
                cur = [line]
            continue
        if line.strip().startswith("~End"):
            blocks.append(cur)
            cur = None
        else:
            cur.append(line)
    if cur:
        blocks.append(cur)
    return blocks


def _plate_header(fields: list[str], file: str) -> dict[str, object]:
    """Fields of a ``Plate:`` line.

    The layout differs by read mode (fluorescence and luminescence add
    fields); what is common: ``n_wavelengths, "w1 w2 ", first column, columns,
    plate size`` in a row, and first row / number of rows as the last two
    numbers of the line.
    """
    f = [x.strip() for x in fields]
    name = f[1] if len(f) > 1 else "?"
    if len(f) > 4 and f[4] != "Endpoint":
        raise InputError(f"plate {name!r}: a {f[4]} read; ELISA needs an endpoint read",
                         file=file, value=f[4])
    nums = [x for x in f[5:] if x.isdigit()]
    for i in range(5, len(f)):
        if (f[i] in _SIZES and f[i - 1].isdigit() and f[i - 2].isdigit()
                and _WL_LIST.match(fields[i - 3] or "x") and f[i - 4].isdigit()
                and int(f[i - 4]) == len(f[i - 3].split()) and len(nums) >= 2):
            return {
                "name": name, "layout": f[3], "read": f[4], "mode": f[5],
                "reduced": "Reduced" in f[5:9],
                "wavelengths": [int(w) for w in f[i - 3].split()],
                "first_col": int(f[i - 2] or 1), "ncols": int(f[i - 1]), "size": int(f[i]),
                "first_row": int(nums[-2]), "nrows": int(nums[-1]),
            }
    raise InputError(f"plate {name!r}: SoftMax Pro plate header not understood", file=file,
                     value="\t".join(fields)[:60])


def _all_wells(size: int) -> list[str]:
    nrows, ncols = {6: (2, 3), 12: (3, 4), 24: (4, 6), 48: (6, 8), 96: (8, 12),
                    384: (16, 24)}[size]
    return [f"{ROW_LETTERS[r]}{c + 1}" for r in range(nrows) for c in range(ncols)]


def _plate_values(block: list[str], hdr: dict, file: str) -> dict[str, list[str | None]]:
    """well -> one text per wavelength."""
    nwl = len(hdr["wavelengths"])  # type: ignore[arg-type]
    ncols, nrows = int(hdr["ncols"]), int(hdr["nrows"])  # type: ignore[call-overload]
    c0, r0 = int(hdr["first_col"]) - 1, int(hdr["first_row"]) - 1  # type: ignore[call-overload]
    out: dict[str, list[str | None]] = {}
    body = block[1:]
    if hdr["layout"] == "TimeFormat":
        head = body[0].split("\t")
        names = [normalise_well(h) for h in head]
        rows = [ln for ln in body[1:] if ln.strip()][:nwl]
        for k, line in enumerate(rows):
            cells = line.split("\t")
            for j, w in enumerate(names):
                if w is None:
                    continue
                txt = cells[j].strip() if j < len(cells) else ""
                out.setdefault(w, [None] * nwl)[k] = txt or None
        return out
    data = body[1 : 1 + nrows]
    if len(data) < nrows:
        raise InputError(f"plate {hdr['name']!r}: {len(data)} data rows, expected {nrows}",
                         file=file)
    for r, line in enumerate(data):
        cells = line.split("\t")
        for k in range(nwl):
            start = 2 + k * (ncols + 1)
            for c in range(ncols):
                j = start + c
                txt = cells[j].strip() if j < len(cells) else ""
                w = f"{ROW_LETTERS[r0 + r]}{c0 + c + 1}"
                out.setdefault(w, [None] * nwl)[k] = txt or None
    return out


def _role(group: str) -> str:
    g = group.lower()
    if "std" in g or "standard" in g:
        return "standard"
    if "blank" in g:
        return "blank"
    if any(k in g for k in ("control", "ctrl", "qc", "spike")):
        return "control"
    return "sample"


def _group(block: list[str]) -> tuple[str, list[dict[str, str]]]:
    name = block[0].split("\t", 1)[1].strip() if "\t" in block[0] else block[0][6:].strip()
    header = [h.strip() for h in block[1].split("\t")] if len(block) > 1 else []
    rows = []
    for line in block[2:]:
        if not line.strip() or line.startswith("Group Column"):
            break
        rows.append(dict(zip(header, [c.strip() for c in line.split("\t")], strict=False)))
    return name, rows


def _pick(cols: list[str], *prefixes: str) -> str | None:
    for c in cols:
        if any(c.lower().startswith(p) for p in prefixes):
            return c
    return None


def _pick_wavelengths(
    hdr: dict, wavelength_nm: int | None, reference_nm: int | None, file: str
) -> tuple[int, int | None]:
    """Indexes of the read and of the reference wavelength (``None``: no subtraction)."""
    wls: list[int] = hdr["wavelengths"]
    if hdr["reduced"]:
        return 0, None
    for name, nm in (("wavelength", wavelength_nm), ("reference wavelength", reference_nm)):
        if nm is not None and nm not in wls:
            raise InputError(f"plate {hdr['name']!r}: no {name} {nm} nm in the file "
                             f"(read: {', '.join(map(str, wls))} nm)", file=file, value=nm)
    prim = wls.index(wavelength_nm) if wavelength_nm is not None else 0
    if reference_nm is not None:
        return prim, wls.index(reference_nm)
    if wavelength_nm is None and len(wls) == 2 and hdr["mode"] == "Absorbance":
        return 0, 1
    return prim, None


def read_softmax(
    path: str | Path, text: str | None = None, *, wavelength_nm: int | None = None,
    reference_nm: int | None = None,
) -> list[ReadPlate]:
    """Read a SoftMax Pro text export into one :class:`ReadPlate` per plate block."""
    p = Path(path)
    if text is None:
        text = decode(p.read_bytes())
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    plates: dict[str, ReadPlate] = {}
    groups = []
    for block in _blocks(lines):
        if block[0].startswith("Plate:"):
            hdr = _plate_header(block[0].split("\t"), str(p))
            raw = _plate_values(block, hdr, str(p))
            wls = hdr["wavelengths"]
            ip, ir = _pick_wavelengths(hdr, wavelength_nm, reference_nm, str(p))
            values: dict[str, str | None] = {}
            for w in _all_wells(int(hdr["size"])):  # type: ignore[call-overload]
                v = raw.get(w)
                if v is None:
                    values[w] = None
                elif ir is None:
                    values[w] = v[ip]
                else:
                    a, b = parse_number(v[ip]), parse_number(v[ir])
                    values[w] = v[ip] if a is None else (v[ir] if b is None else repr(a - b))
            name = str(hdr["name"])
            if name in plates:
                raise InputError(f"plate {name!r} appears twice", file=str(p))
            meta = {"format": "softmax", "wavelengths": wls, "reduced": hdr["reduced"],
                    "read": hdr["read"], "mode": hdr["mode"]}
            meta["wavelength_nm"] = wls[ip]  # type: ignore[index]
            if ir is not None:
                meta["reference_nm"] = wls[ir]  # type: ignore[index]
            plates[name] = ReadPlate(name, values, str(p), meta=meta)
        elif block[0].startswith("Group:"):
            groups.append(_group(block))
    if not plates:
        raise InputError("no SoftMax Pro plate block found", file=str(p))
    names = list(plates)
    for rp in plates.values():
        rp.meta["groups"] = {g: rows for g, rows in groups}
    for gname, rows in groups:
        if not rows:
            continue
        cols = list(rows[0])
        wcol = _pick(cols, "wells", "well")
        if wcol is None:
            continue
        role = _role(gname)
        ccol = _pick(cols, "conc", "standard value", "std value", "known") if role == "standard" \
            else None
        vcol = _pick(cols, "od", "value", "values", "raw")
        dcol = _pick(cols, "dilution", "dil")
        pcol = _pick(cols, "wellplatename")
        sample = conc = None
        dil = 1.0
        for r in rows:
            if r.get("Sample", "").strip():
                sample = r["Sample"].strip()
                conc = parse_number(r.get(ccol, "")) if ccol else None
                dil = (parse_number(r.get(dcol, "")) or 1.0) if dcol else 1.0
            well = normalise_well(r.get(wcol, ""))
            if well is None:
                continue
            targets = [r[pcol]] if pcol and r.get(pcol) in plates else names
            for t in targets:
                plates[t].layout[well] = WellInfo(role, conc, dil, sample, gname)
                if vcol and r.get(vcol, "").lower() == "masked":
                    plates[t].masks[well] = Mask(MASK_BY, MASK_REASON)
    return list(plates.values())


__all__ = ["read_softmax"]
