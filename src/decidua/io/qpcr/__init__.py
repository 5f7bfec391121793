"""Read qPCR instrument files into a :class:`decidua.assays.qpcr.wells.Plate`.

Formats (chosen from the file's content, not its name):

- RDML 1.0-1.4 (:mod:`decidua.io.qpcr.rdml`): a zip whose XML member may be
  called ``rdml_data.xml`` or anything else (Bio-Rad names it after the run),
  or the bare XML.
- QuantStudio / 7500 / ViiA 7 exports, text (a ``[Results]`` section) or xlsx (a
  ``Results`` sheet below a preamble); Bio-Rad CFX "Quantification Cq Results"
  CSV / xlsx; a plain long CSV ``well, sample, target, cq``
  (:mod:`decidua.io.qpcr.tables`).

Every error names the file, the row (or RDML reaction) and the field.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from decidua.assays.qpcr.validate import check_plate
from decidua.assays.qpcr.wells import Plate
from decidua.errors import InputError
from decidua.io.qpcr import rdml, tables

#: Refuse files larger than this before parsing.
MAX_FILE_BYTES = 200 * 1024 * 1024

FORMATS = ("rdml", "quantstudio", "cfx", "long-csv")


def read_qpcr(path: str | Path, *, fmt: str | None = None) -> Plate:
    """Read one plate from ``path``.

    Parameters
    ----------
    path
        RDML, QuantStudio/7500 text or xlsx, CFX CSV/xlsx, or long CSV.
    fmt
        Force a format (one of :data:`FORMATS`); by default it is detected.

    Raises
    ------
    InputError
        Unreadable file, unknown layout, bad values (file, row, field named),
        or one well given to two samples.
    """
    p = Path(path)
    name = str(path)
    if not p.is_file():
        raise InputError("no such file", file=name)
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"file is larger than {MAX_FILE_BYTES // 2**20} MiB", file=name)
    data = p.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown qPCR format; use one of {', '.join(FORMATS)}",
                         value=fmt)
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise InputError("an Excel 97-2003 (.xls) workbook is not read: export the results "
                         "as text (.txt) or .xlsx, or as RDML", file=name)
    is_zip = zipfile.is_zipfile(p)
    if is_zip and p.suffix.lower() == ".eds":
        raise InputError("a QuantStudio .eds is the instrument's experiment file, not an "
                         "export: export the results as text or .xlsx, or as RDML", file=name)
    looks_xml = data.lstrip()[:200].lstrip(b"\xef\xbb\xbf").startswith(b"<")
    if fmt == "rdml" or (fmt is None and (p.suffix.lower() == ".rdml" or looks_xml)):
        plate = rdml.read_rdml(data, name, sha)
    elif is_zip and p.suffix.lower() not in (".xlsx", ".xlsm"):
        # a zip that is not a workbook: only RDML is a zip format here
        plate = rdml.read_rdml(data, name, sha)
    else:
        plate = tables.read_table(data, name, sha, is_xlsx=is_zip, fmt=fmt)
    check_plate(plate)
    return plate


__all__ = ["FORMATS", "read_qpcr"]
