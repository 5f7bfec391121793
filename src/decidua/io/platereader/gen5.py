"""BioTek / Agilent Gen5 text exports.

Read: ``Plate Number`` sections; the ``Layout`` matrix (``Well ID`` rows:
``STDn`` standards, ``BLK`` blanks, ``SPLn`` samples, ``CTLn``/``CTRLn``
controls; ``Conc/Dil`` rows: a standard's concentration or a sample's
dilution factor); every labelled result matrix (rows A.., a label in the
last column, interleaved rows such as ``[Concentration]`` too). The
response used is the ``Blank <read>`` matrix when Gen5 subtracted blanks,
else the first read matrix. Gen5's own ``Curve Fitting Results`` (formula,
parameters, R2) and its concentration matrix go to ``meta`` for comparison.
"""

from __future__ import annotations

import re
from pathlib import Path

from decidua.errors import InputError
from decidua.io.platereader.common import (
    ROW_LETTERS,
    ReadPlate,
    WellInfo,
    decode,
    parse_number,
)

_ID_RE = re.compile(r"^(STD|BLK|SPL|CTL|CTRL|CTR)(\d*)$", re.IGNORECASE)
_LAYOUT_LABELS = {"well id", "conc/dil", "name", "conc", "dil"}
_CONC_LABELS = {"conc", "[concentration]", "concentration", "conc/dil"}


def _matrices(lines: list[str]) -> tuple[dict[str, dict[str, str | None]], int, int]:
    """Every labelled plate matrix: label -> well -> text; and the plate's rows / columns."""
    mats: dict[str, dict[str, str | None]] = {}
    ncols = 0
    row_letter: str | None = None
    nrows = 0
    for line in lines:
        cells = line.split("\t")
        head = [c.strip() for c in cells]
        if len(head) > 2 and head[0] == "" and head[1] == "1" and all(
            h.isdigit() for h in head[1:] if h
        ):
            ncols = max(int(h) for h in head[1:] if h)
            row_letter = None
            continue
        if ncols == 0 or len(cells) < ncols + 2:
            row_letter = None
            continue
        first = head[0]
        if len(first) == 1 and first in ROW_LETTERS:
            row_letter = first
        elif first != "" or row_letter is None:
            row_letter = None
            continue
        label = head[ncols + 1] if len(head) > ncols + 1 else ""
        if not label:
            continue
        mat = mats.setdefault(label, {})
        for k in range(ncols):
            txt = head[1 + k]
            mat[f"{row_letter}{k + 1}"] = txt if txt != "" else None
        nrows = max(nrows, ROW_LETTERS.index(row_letter) + 1)
    return mats, nrows, ncols


def _curve_results(lines: list[str]) -> list[dict[str, str]]:
    out = []
    for i, line in enumerate(lines):
        if line.strip().startswith("Curve Name"):
            head = [c.strip() for c in line.split("\t")]
            for nxt in lines[i + 1 :]:
                cells = [c.strip() for c in nxt.split("\t")]
                if not any(cells):
                    break
                out.append(dict(zip(head, cells, strict=False)))
    return out


def read_gen5(path: str | Path, text: str | None = None) -> list[ReadPlate]:
    """Read a Gen5 text export into one :class:`ReadPlate` per ``Plate Number`` section.

    Raises
    ------
    InputError
        No plate matrix in the file.
    """
    p = Path(path)
    if text is None:
        text = decode(p.read_bytes())
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Plate Number")]
    sections = (
        [lines[s:e] for s, e in zip(starts, [*starts[1:], len(lines)], strict=True)]
        if starts else [lines]
    )
    header = lines[: starts[0]] if starts else []
    plates = []
    for k, sec in enumerate(sections):
        name = sec[0].split("\t")[1].strip() if starts and "\t" in sec[0] else f"{p.stem}"
        mats, nrows, ncols = _matrices(header + sec)
        reads = [lab for lab in mats if lab.lower() not in _LAYOUT_LABELS | _CONC_LABELS]
        if not reads:
            raise InputError(f"plate {name!r}: no Gen5 result matrix found", file=str(p))
        blank = [lab for lab in reads if lab.lower().startswith("blank ")]
        use = blank[0] if blank else reads[0]
        wells = [f"{r}{c + 1}" for r in ROW_LETTERS[:nrows] for c in range(ncols)]
        values = {w: mats[use].get(w) for w in wells}
        layout: dict[str, WellInfo] = {}
        ids = mats.get("Well ID", {})
        cd = mats.get("Conc/Dil", {})
        for w in wells:
            wid = ids.get(w)
            if not wid:
                continue
            m = _ID_RE.match(wid)
            kind = m.group(1).upper() if m else "SPL"
            num = parse_number(cd.get(w))
            if kind == "STD":
                layout[w] = WellInfo("standard", num, 1.0, wid, "Standards")
            elif kind == "BLK":
                layout[w] = WellInfo("blank", None, 1.0, wid, "Blanks")
            elif kind in ("CTL", "CTRL", "CTR"):
                layout[w] = WellInfo("control", None, num or 1.0, wid, "Controls")
            else:
                layout[w] = WellInfo("sample", None, num or 1.0, wid, "Samples")
        conc_label = next((lab for lab in mats if lab.lower() in {"conc", "[concentration]",
                                                                   "concentration"}), None)
        meta = {
            "format": "gen5",
            "read": use,
            "matrices": sorted(mats),
            "vendor_curve": _curve_results(sec),
            "vendor_concentration": dict(mats[conc_label]) if conc_label else {},
            "section": k,
        }
        plates.append(ReadPlate(name, values, str(p), layout, {}, None, meta))
    return plates


__all__ = ["read_gen5"]
