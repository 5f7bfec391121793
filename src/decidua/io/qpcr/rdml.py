"""RDML 1.0-1.4 reader (Lefever et al., Nucleic Acids Res 2009;37:2065; rdml.org).

Written for Decidua with the standard library's XML parser (no new
dependency). ``rdmlpython`` was considered and not used: it opens only a zip
member called ``rdml_data.xml``, while Bio-Rad CFX names the member after the
run (``bio_rad_384.xml``).

What is read, per ``experiment/run/react/data``: the well (``react/@id``, a
row-major number on ``pcrFormat`` rows x columns, or a well name in RDML 1.0
free format), the sample (``react/sample/@id``; type and quantity from the
top-level ``sample``), the target (``data/tar/@id``) and ``data/cq``.

"No Cq" is written in several ways, all read as ``cq = None`` with a flag:
the ``cq`` element missing or empty, ``NaN``, a value <= 0 (``-1``), or a value
at or beyond the last amplification cycle recorded for that reaction
(StepOne writes ``40.0`` for Undetermined on a 40-cycle run, LightCycler 96
writes ``100``).
"""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET
import zipfile

from decidua.assays.qpcr.wells import Plate, Well, normalise_task, normalise_well, well_from_index
from decidua.errors import InputError

RDML_NS = "http://www.rdml.org"
_N = "{" + RDML_NS + "}"
#: Largest XML member we inflate (a zip bomb guard).
MAX_MEMBER_BYTES = 500 * 1024 * 1024


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: ET.Element, name: str) -> ET.Element | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _children(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _text(el: ET.Element | None, name: str) -> str | None:
    if el is None:
        return None
    c = _child(el, name)
    if c is None or c.text is None:
        return None
    return c.text.strip()


def _root_of(data: bytes, file: str) -> ET.Element:
    if zipfile.is_zipfile(io.BytesIO(data)):
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile as exc:
            raise InputError(f"unreadable zip archive ({exc})", file=file) from None
        names = [i for i in zf.infolist() if not i.is_dir()]
        # rdml_data.xml first (the standard's name), then any other XML member
        names.sort(key=lambda i: (i.filename.rsplit("/", 1)[-1] != "rdml_data.xml",
                                  not i.filename.lower().endswith(".xml")))
        for info in names:
            if info.file_size > MAX_MEMBER_BYTES:
                continue
            try:
                root = ET.fromstring(zf.read(info))
            except (ET.ParseError, zipfile.BadZipFile, OSError):
                continue
            if _local(root.tag) == "rdml":
                return root
        listed = ", ".join(i.filename for i in names[:5]) or "none"
        raise InputError(
            f"zip archive is not RDML: no member is an RDML document (members: {listed})",
            file=file)
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise InputError(f"not an RDML file: XML does not parse ({exc})", file=file) from None
    if _local(root.tag) != "rdml":
        raise InputError(f"not an RDML file: root element is <{_local(root.tag)}>",
                         file=file)
    return root


def _float(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read_rdml(data: bytes, file: str, sha256: str) -> Plate:
    """Parse RDML bytes (zip or bare XML) into a plate.

    Raises
    ------
    InputError
        Not RDML, a reaction without a well or sample, or a Cq that is not a number.
    """
    root = _root_of(data, file)
    version = root.get("version")
    samples: dict[str, tuple[str | None, float | None]] = {}
    for s in _children(root, "sample"):
        types = [c.text.strip() for c in _children(s, "type") if c.text]
        qty = _float(_text(_child(s, "quantity"), "value"))
        samples[s.get("id", "")] = (types[0] if types else None, qty)
    publisher = _text(_child(root, "id"), "publisher")
    instrument = None
    wells: list[Well] = []
    problems = []
    for exp in _children(root, "experiment"):
        for run in _children(exp, "run"):
            instrument = instrument or _text(run, "instrument") or publisher
            fmt = _child(run, "pcrFormat")
            columns = _float(_text(fmt, "columns")) if fmt is not None else None
            rows = _float(_text(fmt, "rows")) if fmt is not None else None
            for n, react in enumerate(_children(run, "react"), start=1):
                rid = (react.get("id") or "").strip()
                if rid.isdigit() and columns:
                    well = well_from_index(int(rid), int(columns))
                elif rid.isdigit() and 1 <= int(rid) <= 384:
                    # no plate format given: row-major on a 96- or 384-well plate
                    n_react = len(_children(run, "react"))
                    well = well_from_index(int(rid), 12 if n_react <= 96 and int(rid) <= 96
                                           else 24)
                else:
                    well = normalise_well(rid, rows=int(rows or 16), columns=int(columns or 24))
                if not well:
                    problems.append((n, "react id", rid, "reaction id is not a well position"))
                    continue
                s_el = _child(react, "sample")
                sample = (s_el.get("id") if s_el is not None else None) or ""
                if not sample:
                    problems.append((n, "sample", None, f"reaction {rid} names no sample"))
                    continue
                stype, qty = samples.get(sample, (None, None))
                task = normalise_task(stype) or "unknown"
                for d in _children(react, "data"):
                    tar = _child(d, "tar")
                    target = (tar.get("id") if tar is not None else "") or ""
                    flags: list[str] = []
                    raw = _text(d, "cq")
                    cycles = [_float(_text(a, "cyc")) for a in _children(d, "adp")]
                    cycles = [c for c in cycles if c is not None]
                    last_cycle = max(cycles) if cycles else None
                    cq: float | None
                    if raw is None or raw == "":
                        cq = None
                        flags.append("undetermined (no cq element)")
                    else:
                        try:
                            cq = float(raw)
                        except ValueError:
                            problems.append((n, "cq", raw,
                                             f"well {well} target {target!r}: Cq is not a number"))
                            continue
                        if not math.isfinite(cq):
                            flags.append(f"undetermined (cq {raw})")
                            cq = None
                        elif cq <= 0:
                            flags.append(f"undetermined (cq sentinel {raw})")
                            cq = None
                        elif last_cycle is not None and cq >= last_cycle:
                            flags.append(f"undetermined (cq sentinel {raw} at or beyond last "
                                         f"cycle {last_cycle:g})")
                            cq = None
                    dq = _float(_text(_child(d, "quantity"), "value"))
                    quantity = qty if qty is not None and math.isfinite(qty) else (
                        dq if dq is not None and math.isfinite(dq) else None)
                    wells.append(Well(well=well, sample=sample, target=target, cq=cq,
                                      task=task, quantity=quantity, row=n,
                                      flags=tuple(flags)))
    if problems:
        from decidua.errors import Problem

        raise InputError([Problem(reason, file, row, col, val)
                          for row, col, val, reason in problems])
    return Plate(path=file, sha256=sha256, format="rdml", wells=tuple(wells),
                 instrument=instrument, format_version=version)
