"""Pick the reader for a file and return analysable plates."""

from __future__ import annotations

from pathlib import Path

from decidua.assays.elisa.plate import PlateData
from decidua.errors import InputError
from decidua.io.platereader.common import MapRow, decode, read_plate_map, to_plate_data
from decidua.io.platereader.gen5 import read_gen5
from decidua.io.platereader.grid import read_grid
from decidua.io.platereader.softmax import read_softmax

FORMATS = ("auto", "softmax", "gen5", "grid")


def sniff(path: Path) -> str:
    """``"softmax"``, ``"gen5"`` or ``"grid"`` from the file's content."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return "grid"
    head = decode(path.read_bytes()[:20000])
    if head.lstrip("\ufeff").startswith("##BLOCKS"):
        return "softmax"
    if "Software Version" in head or "\nLayout" in head or "Plate Number" in head:
        return "gen5"
    return "grid"


def read_plates(
    path: str | Path,
    plate_map: str | Path | list[MapRow] | None = None,
    *,
    fmt: str = "auto",
    analyte: str | None = None,
    wavelength_nm: int | None = None,
    reference_nm: int | None = None,
) -> list[PlateData]:
    """Read every plate of a reader export, apply a plate map, return :class:`PlateData`.

    Raises
    ------
    InputError
        Unreadable file, unknown format, a grid without a plate map, or any
        problem the readers and :func:`to_plate_data` find.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError("no such file", file=str(p))
    if fmt not in FORMATS:
        raise InputError(f"format must be one of {', '.join(FORMATS)}", value=fmt)
    kind = sniff(p) if fmt == "auto" else fmt
    if kind == "softmax":
        plates = read_softmax(p, wavelength_nm=wavelength_nm, reference_nm=reference_nm)
    else:
        if wavelength_nm is not None or reference_nm is not None:
            raise InputError("--wavelength / --reference apply to SoftMax Pro files only "
                             "(Gen5 exports say which read is which; grids are labelled)",
                             file=str(p))
        plates = (read_gen5 if kind == "gen5" else read_grid)(p)
    rows = read_plate_map(plate_map) if isinstance(plate_map, (str, Path)) else plate_map
    if rows is None and kind == "grid":
        raise InputError("a plain OD grid needs a plate map (--map MAP.csv)", file=str(p))
    out = [to_plate_data(rp, rows, analyte) for rp in plates]
    return out


__all__ = ["FORMATS", "read_plates", "sniff"]
