"""Pseudonymous research export (CSV or Parquet).

What leaves the database, and how:

- **Ids** are keyed hashes (HMAC-SHA256). With ``DECIDUA_EXPORT_KEY`` (at
  least :data:`MIN_KEY_CHARS` characters) successive exports share
  pseudonyms; without it a random key is used and discarded, so exports
  cannot be linked at all (the caller warns).
- **Fields** are an allow-list of coded and numeric fields per table
  (:data:`EXPORTED`). Free-text fields (:data:`FREE_TEXT`: dose, trial arm,
  units, batch, plate and well labels, karyotype detail, notes, ethnicity) are
  exported only with ``include_free_text``, and the caller warns.
- **Quasi-identifiers** are coarsened by default: the age band at the index
  date (the woman's first biopsy, else the export date) instead of her year of
  birth, and the WHO BMI band instead of BMI. ``exact_quasi_identifiers``
  releases the exact age at the index date and BMI (and the year of birth
  only when dates are not shifted: a shifted year of birth would give the
  shift away). The k-anonymity of the released quasi-identifiers (age, BMI,
  study group) is computed (:func:`k_anonymity`) and reported.
- **Dates**: with ``shift_dates`` every date of a woman — every ``Date``
  column of the exported models (found from the model, :func:`date_columns`)
  and every ISO date inside assay values (e.g. the CFU count date) — moves by
  the same keyed offset (1 to 182 days, earlier or later; REDCap-style date
  shifting), so intervals within a woman are kept.
- **Row order** is shuffled per table (seeded from the key: the same key
  gives the same order; a random key a random one), so rows cannot be linked
  across keyless exports by their position.
- **CSV** text cells that begin with ``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return are prefixed with ``'`` (OWASP CSV injection).
- Files are written to a temporary folder beside the output and renamed at
  the end, so a failure (a full disk) leaves no partial export.

By default only women who consented to research are exported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Date, DateTime, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from decidua import RESEARCH_USE_LABEL
from decidua.errors import InputError
from decidua.store import models as m

ENV_EXPORT_KEY = "DECIDUA_EXPORT_KEY"
FORMATS = ("csv", "parquet")
#: Largest date shift, in days, applied with ``shift_dates``.
MAX_SHIFT_DAYS = 182
#: Shortest accepted ``DECIDUA_EXPORT_KEY`` (32 characters ~ a 128-bit random key in hex).
MIN_KEY_CHARS = 32
#: Age bands (years, lower bounds) of the coarsened export.
AGE_BANDS = (0, 25, 30, 35, 40, 45)
#: WHO adult BMI categories (kg/m2, lower bounds): WHO, "Obesity: preventing and
#: managing the global epidemic", Technical Report Series 894 (2000), table 2.1.
BMI_BANDS = (0.0, 18.5, 25.0, 30.0, 35.0, 40.0)
#: Quasi-identifier columns whose combination is checked for k-anonymity.
QUASI_IDENTIFIERS = ("age_band", "age_at_index", "year_of_birth", "bmi_band", "bmi", "study_group")
_CSV_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: Coded and numeric fields exported per table (``lh_day`` is derived).
EXPORTED: dict[str, tuple[str, ...]] = {
    "pregnancies": ("order", "outcome", "gestation_weeks", "conception", "karyotype",
                    "outcome_date", "fetal_heart_activity"),
    "investigations": ("kind", "date", "value", "interpretation"),
    "biopsies": ("cycle_number", "lh_day", "lh_surge_date", "biopsy_date", "on_treatment",
                 "clinic_call"),
    "assay_results": ("kind", "qc_status"),
    "interventions": ("kind", "start_date", "end_date"),
}  # fmt: skip
#: Free-text fields, exported only with ``include_free_text``.
FREE_TEXT: dict[str, tuple[str, ...]] = {
    "patients": ("ethnicity",),
    "pregnancies": ("karyotype_detail",),
    "investigations": ("unit", "text"),
    "assay_results": ("batch", "result_key", "text values (e.g. plate, well)"),
    "interventions": ("dose", "trial_arm"),
}
#: Date and time columns of exported models that are never exported (bookkeeping).
NOT_EXPORTED_DATES = {("patient", "created_at"), ("assay_result", "created_at")}
_ENTITIES: dict[str, type[m.Base]] = {
    "patients": m.Patient,
    "pregnancies": m.Pregnancy,
    "investigations": m.Investigation,
    "biopsies": m.Biopsy,
    "assay_results": m.AssayResult,
    "interventions": m.Intervention,
}


def pseudonymise(value: str, key: bytes, prefix: str) -> str:
    """Keyed, non-reversible pseudonym of an id (``prefix`` + 16 hex digits)."""
    return prefix + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:16]


def date_shift(pseudonym: str, key: bytes, max_days: int = MAX_SHIFT_DAYS) -> int:
    """Keyed per-woman date offset in days: in ``[-max_days, max_days]``, never 0.

    The same key and pseudonym always give the same offset, so successive
    exports with ``DECIDUA_EXPORT_KEY`` shift a woman's dates identically.
    """
    if max_days < 1:
        raise ValueError("max_days must be >= 1")
    digest = hmac.new(key, b"date-shift:" + pseudonym.encode(), hashlib.sha256).digest()
    k = int.from_bytes(digest[:8], "big") % (2 * max_days)
    return k - max_days if k < max_days else k - max_days + 1


def export_key() -> tuple[bytes, bool]:
    """The export key from ``DECIDUA_EXPORT_KEY``, or a random one (second item False).

    Raises
    ------
    InputError
        If the variable is set to fewer than :data:`MIN_KEY_CHARS` characters.
    """
    from decidua.settings import get_settings

    secret = get_settings().export_key
    if secret is not None:
        env = secret.get_secret_value()
        if len(env) < MIN_KEY_CHARS:
            raise InputError(
                f"{ENV_EXPORT_KEY} is {len(env)} characters: it must have at least "
                f"{MIN_KEY_CHARS} (e.g. `python -c 'import secrets; print(secrets.token_hex(16))'`)"
                "; unset it for random, unlinkable pseudonyms",
                column=ENV_EXPORT_KEY,
            )
        return env.encode(), True
    return secrets.token_bytes(32), False


def date_columns(entity: type[m.Base]) -> list[str]:
    """Attribute names of every date or date-time column of a model."""
    return [
        name
        for name, col in sa_inspect(entity).columns.items()
        if isinstance(col.type, Date | DateTime)
    ]


def age_band(age: float | None) -> str | None:
    """``"30-34"`` style band of an age in years (``">=45"`` for the last one)."""
    return _band(age, AGE_BANDS, "{lo}-{hi}", lambda hi: hi - 1, "<{hi}", ">={lo}")


def bmi_band(bmi: float | None) -> str | None:
    """WHO BMI category as a range (``"18.5-24.9"``; ``"<18.5"``, ``">=40"``)."""
    return _band(bmi, BMI_BANDS, "{lo}-{hi}", lambda hi: round(hi - 0.1, 1), "<{hi}", ">={lo}")


def _band(
    value: float | None, bounds: tuple, fmt: str, top: Callable, first: str, last: str
) -> str | None:
    if value is None or pd.isna(value):
        return None
    i = max(j for j, lo in enumerate(bounds) if value >= lo) if value >= bounds[0] else 0
    if i == 0:
        return first.format(hi=bounds[1])
    if i == len(bounds) - 1:
        return last.format(lo=bounds[-1])
    return fmt.format(lo=bounds[i], hi=top(bounds[i + 1]))


def k_anonymity(frame: pd.DataFrame, columns: Iterable[str] | None = None) -> int:
    """Smallest number of rows sharing one combination of quasi-identifier values.

    ``columns`` defaults to the :data:`QUASI_IDENTIFIERS` present in the
    frame; an empty frame (or no quasi-identifier) gives 0.
    """
    cols = [c for c in (columns or QUASI_IDENTIFIERS) if c in frame.columns]
    if frame.empty or not cols:
        return 0
    return int(frame[cols].astype(str).value_counts(dropna=False).min())


@dataclass
class ExportTables:
    """The tables of one export and what was released."""

    frames: dict[str, pd.DataFrame]
    k_anonymity: int
    quasi_identifiers: list[str]
    free_text: bool
    exact_quasi_identifiers: bool
    dates_shifted: bool
    warnings: list[str] = field(default_factory=list)


def _select_in(session: Session, entity: Any, fk: str, ids: list[int]) -> list[Any]:
    """Rows of ``entity`` whose ``fk`` is in ``ids`` (chunked IN lists), in id order."""
    out: list[Any] = []
    col = getattr(entity, fk)
    for i in range(0, len(ids), 500):
        out.extend(session.scalars(select(entity).where(col.in_(ids[i : i + 500]))))
    return sorted(out, key=lambda r: r.id)


def _shuffle(frame: pd.DataFrame, key: bytes, name: str) -> pd.DataFrame:
    digest = hmac.new(key, b"row-order:" + name.encode(), hashlib.sha256).digest()
    seed = int.from_bytes(digest[:8], "big")
    return frame.sample(frac=1.0, random_state=seed % (2**32)).reset_index(drop=True)


def export_frames(
    session: Session,
    key: bytes,
    *,
    consented_only: bool = True,
    shift_dates: bool = False,
    include_free_text: bool = False,
    exact_quasi_identifiers: bool = False,
    today: date | None = None,
) -> ExportTables:
    """Build the export tables (see the module docstring for what is released).

    Parameters
    ----------
    session
        Open database session.
    key
        HMAC key for pseudonyms, date shifts and row order.
    consented_only
        Export only women with ``consent_research``.
    shift_dates
        Move each woman's dates by her keyed offset (:func:`date_shift`).
    include_free_text
        Also export the :data:`FREE_TEXT` fields.
    exact_quasi_identifiers
        Exact age at the index date and BMI instead of bands.
    today
        Export date (index date of women without a biopsy); default today.
    """
    today = today or dt.date.today()
    pstmt = select(m.Patient).order_by(m.Patient.id)
    if consented_only:
        pstmt = pstmt.where(m.Patient.consent_research.is_(True))
    patients = list(session.scalars(pstmt))
    pid = {p.id: pseudonymise(p.pseudonym, key, "P") for p in patients}
    offset = {p.id: date_shift(p.pseudonym, key) if shift_dates else 0 for p in patients}
    ids = list(pid)
    biopsies = _select_in(session, m.Biopsy, "patient_id", ids)
    bid = {b.id: pseudonymise(b.code, key, "B") for b in biopsies}
    biopsy_patient = {b.id: b.patient_id for b in biopsies}

    def moved(v: Any, days: int) -> Any:
        if not shift_dates or v is None:
            return v
        if isinstance(v, dt.datetime | date):
            return v + timedelta(days=days)
        if isinstance(v, str) and _ISO_DATE.match(v):
            try:
                return (date.fromisoformat(v) + timedelta(days=days)).isoformat()
            except ValueError:
                return v
        return v

    def table(name: str, rows: list[Any], id_cols: dict[str, Callable[[Any], str]],
              patient_of: Callable[[Any], int]) -> pd.DataFrame:
        attrs = list(EXPORTED[name])
        if include_free_text:
            attrs += [a for a in FREE_TEXT.get(name, ()) if " " not in a]
        records = [
            {**{c: f(r) for c, f in id_cols.items()},
             **{a: moved(getattr(r, a), offset[patient_of(r)]) for a in attrs}}
            for r in rows
        ]  # fmt: skip
        return pd.DataFrame(records, columns=[*id_cols, *attrs])

    frames: dict[str, pd.DataFrame] = {}
    # index date: the first biopsy, else the export date
    first_biopsy: dict[int, date] = {}
    for b in biopsies:
        if b.patient_id not in first_biopsy or b.biopsy_date < first_biopsy[b.patient_id]:
            first_biopsy[b.patient_id] = b.biopsy_date
    prow = []
    for p in patients:
        index = first_biopsy.get(p.id, today)
        age = index.year - p.year_of_birth  # year of birth only: within a year
        row: dict[str, Any] = {"patient": pid[p.id]}
        if exact_quasi_identifiers:
            row["age_at_index"] = age
            if not shift_dates:
                row["year_of_birth"] = p.year_of_birth
            row["bmi"] = p.bmi
        else:
            row["age_band"] = age_band(age)
            row["bmi_band"] = bmi_band(p.bmi)
        row["study_group"] = p.study_group
        if include_free_text:
            row["ethnicity"] = p.ethnicity
        prow.append(row)
    frames["patients"] = pd.DataFrame(prow, columns=list(prow[0]) if prow else ["patient"])

    def by_patient(r: Any) -> str:
        return pid[r.patient_id]

    def patient_id(r: Any) -> int:
        return r.patient_id

    frames["pregnancies"] = table(
        "pregnancies", _select_in(session, m.Pregnancy, "patient_id", ids),
        {"patient": by_patient}, patient_id,
    )  # fmt: skip
    frames["investigations"] = table(
        "investigations", _select_in(session, m.Investigation, "patient_id", ids),
        {"patient": by_patient}, patient_id,
    )  # fmt: skip
    frames["biopsies"] = table(
        "biopsies", biopsies, {"biopsy": lambda b: bid[b.id], "patient": by_patient}, patient_id
    )
    results = _select_in(session, m.AssayResult, "biopsy_id", list(bid))
    arows = []
    for r in results:
        days = offset[biopsy_patient[r.biopsy_id]]
        row = {"biopsy": bid[r.biopsy_id], "kind": r.kind, "qc_status": r.qc_status}
        if include_free_text:
            row["batch"], row["result_key"] = r.batch, r.result_key
        for k, v in sorted((r.values or {}).items()):
            is_date = isinstance(v, str) and bool(_ISO_DATE.match(v))
            numeric = isinstance(v, int | float) and not isinstance(v, bool)
            if numeric or is_date or v is None or include_free_text:
                row[f"value_{k}"] = moved(v, days) if is_date else v
        arows.append(row)
    frames["assay_results"] = pd.DataFrame(arows, columns=_union_columns(arows)) if arows else (
        pd.DataFrame(columns=["biopsy", "kind", "qc_status"])
    )
    frames["interventions"] = table(
        "interventions", _select_in(session, m.Intervention, "patient_id", ids),
        {"patient": by_patient}, patient_id,
    )  # fmt: skip
    frames = {name: _shuffle(f, key, name) for name, f in frames.items()}
    qi = [c for c in QUASI_IDENTIFIERS if c in frames["patients"].columns]
    result = ExportTables(
        frames, k_anonymity(frames["patients"], qi), qi, include_free_text,
        exact_quasi_identifiers, shift_dates,
    )  # fmt: skip
    if include_free_text:
        result.warnings.append(
            "free-text fields are included (dose, trial arm, units, batch, plate and well "
            "labels, notes, ethnicity): they may name people or places; review before sharing"
        )
    if patients and 0 < result.k_anonymity < 5:
        result.warnings.append(
            f"k-anonymity of the released quasi-identifiers ({', '.join(qi)}) is "
            f"{result.k_anonymity}: some women are distinguishable by them"
        )
    return result


def _union_columns(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows:
        seen.update(dict.fromkeys(r))
    return list(seen)


def check_output_dir(out: str | Path) -> Path:
    """Refuse an output folder that cannot be created fresh (before any work).

    Raises
    ------
    InputError
        ``out`` is a file, a non-empty folder, or its parent is missing or
        not writable.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is a file: give a new folder for the export", file=str(out))
    if out.is_dir() and any(out.iterdir()):
        raise InputError("folder exists and is not empty: give a new folder", file=str(out))
    parent = out.absolute().parent
    if not parent.is_dir():
        raise InputError(f"folder {parent} does not exist", file=str(out))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"folder {parent} is not writable", file=str(out))
    return out


def _csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Prefix text cells that a spreadsheet would run as a formula with ``'``."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(_CSV_TRIGGERS) else v
            )
    return out


def write_export(
    tables: ExportTables | dict[str, pd.DataFrame],
    out_dir: str | Path,
    fmt: str,
    *,
    dates_shifted: bool | None = None,
) -> list[Path]:
    """Write export tables as ``<name>.csv`` or ``<name>.parquet`` plus a README.

    Everything is written to a temporary folder beside ``out_dir`` and renamed
    to ``out_dir`` at the end: on any failure nothing is left behind.

    Raises
    ------
    InputError
        For an unknown format or an unusable output folder.
    OSError
        When writing fails (e.g. a full disk); the temporary folder is removed.
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; choose csv or parquet", column="format")
    if isinstance(tables, dict):
        tables = ExportTables(tables, k_anonymity(tables.get("patients", pd.DataFrame())),
                              [], False, False, bool(dates_shifted))  # fmt: skip
    out = check_output_dir(out_dir)
    parent = out.absolute().parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=parent))
    try:
        names = []
        for name, frame in tables.frames.items():
            path = tmp / f"{name}.{fmt}"
            if fmt == "csv":
                _csv_safe(frame).to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False)
            names.append(path.name)
        (tmp / "README.txt").write_text(_readme(tables), encoding="utf-8")
        names.append("README.txt")
        if out.is_dir():
            out.rmdir()  # empty (checked): replaced by the finished export
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / n for n in names]


def _readme(t: ExportTables) -> str:
    qi = ", ".join(t.quasi_identifiers) or "none"
    lines = [
        "Decidua pseudonymous research export.",
        RESEARCH_USE_LABEL,
        "Patient and biopsy ids are keyed hashes (HMAC-SHA256); rows are in shuffled order.",
        "Free-text fields are INCLUDED: review them before sharing."
        if t.free_text
        else "Only coded and numeric fields are exported (no free text).",
        "Age and BMI are exact (age at the index date: first biopsy, else the export date)."
        if t.exact_quasi_identifiers
        else "Age is a 5-year band at the index date (first biopsy, else the export date); "
        "BMI is a WHO band.",
        f"Quasi-identifiers released: {qi}; k-anonymity: {t.k_anonymity}.",
        f"Dates are shifted per woman by a keyed offset of 1-{MAX_SHIFT_DAYS} days "
        "(earlier or later); intervals within a woman are exact."
        if t.dates_shifted
        else "Dates are the clinic's calendar dates.",
    ]
    return "\n".join(lines) + "\n"
