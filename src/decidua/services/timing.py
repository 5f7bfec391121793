"""Endometrial timing use cases: fit a reference on a cohort file, place biopsies, centiles.

The science is in :mod:`decidua.assays.timing`; this module reads the command's
files, runs the fit / placement / centile model and returns result objects with
the JSON documents of ``decidua timing … --json``, shared by the CLI and the web
application. Files only: no database session or acting user. Heavy imports
(pandas, numba through the fit) happen inside the functions.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from decidua import RESEARCH_USE_LABEL
from decidua.errors import InputError, Problem

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from decidua.assays.timing import Placement, TimingCentiles, TimingReference

#: Literal reference argument that selects the reference shipped with Decidua
#: (EndoTime training data, seed 1, calibrated; a directory of that name: ``./default``).
DEFAULT_REFERENCE_WORD = "default"

#: Columns of ``estimates.csv`` written by :func:`fit_reference` (a fixed interface).
ESTIMATE_COLUMNS = (
    "ID",
    "pseudotime",
    "estimated_lh_day",
    "estimated_hours",
    "asynchrony_score",
    "asynchronous",
)

#: ``ordering(done, total, gene_window, distance)``: one more ordering of an ensemble member.
OrderingProgress = Callable[[int, int, int, float], None]
#: ``folds(done, total)``: one more leave-one-batch-out refit.
FoldProgress = Callable[[int, int], None]


def read_csv(path: Path) -> pd.DataFrame:
    """Read a command's table (CSV/TSV/XLSX/Parquet) with the one table reader.

    ``ID`` and ``BATCH`` stay text (:func:`decidua.io.readers.read_frame`).
    """
    from decidua.io.readers import read_frame

    return read_frame(path, text_columns=("ID", "BATCH"))


def numeric_column(table: pd.DataFrame, column: str, what: str, file: str) -> np.ndarray:
    """A numeric column of a command's table; every bad cell is reported
    (:func:`decidua.io.validate.numeric_column`)."""
    from decidua.io.validate import numeric_column as validate

    return validate(table, column, what, file=file)


def load_reference(path: Path | str) -> TimingReference:
    """A saved reference (directory or ``reference.json``), or the shipped one for ``default``."""
    from decidua.assays.timing import TimingReference, load_default_reference

    if str(path) == DEFAULT_REFERENCE_WORD:
        return load_default_reference()
    return TimingReference.load(path)


# --------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitOutcome:
    """A reference fitted on a cohort file and written to a directory.

    Attributes
    ----------
    reference
        The fitted (and, when asked and possible, calibrated) reference.
    reference_path, estimates_path
        ``reference.json`` and ``estimates.csv`` written.
    warnings
        Human-readable warnings (e.g. too few batches to calibrate).
    """

    reference: TimingReference
    reference_path: Path
    estimates_path: Path
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The ``timing fit --json`` document."""
        ref = self.reference
        res = ref.result
        assert res is not None
        return {
            "reference": str(self.reference_path),
            "estimates": str(self.estimates_path),
            **res.to_dict(),
            "interval_mass_level": ref.interval_mass_level,
            "interval_calibrated": ref.calibration is not None,
            "notice": RESEARCH_USE_LABEL,
        }


def fit_reference(
    cohort: Path,
    out: Path,
    *,
    seed: int = 0,
    n_seeds: int | None = None,
    max_iterations: int | None = None,
    calibrate: bool = True,
    on_ordering: OrderingProgress | None = None,
    on_fold: FoldProgress | None = None,
) -> FitOutcome:
    """Fit a timing reference on a cohort CSV; write ``estimates.csv`` and ``reference.json``.

    Parameters
    ----------
    cohort
        CSV in EndoTime's layout (``ID, BATCH, LH``, one ΔCt column per gene).
    out
        Output directory (created).
    seed, n_seeds, max_iterations
        As :class:`~decidua.assays.timing.TimingReference` (``None``: the defaults).
    calibrate
        Calibrate interval and out-of-phase probability by leave-one-batch-out
        (needs >= 3 batches; otherwise a warning and an uncalibrated reference).
        The folds are fitted with the same settings, iteration cap included.
    on_ordering, on_fold
        Optional progress callbacks (:data:`OrderingProgress`, :data:`FoldProgress`).

    Returns
    -------
    FitOutcome

    Raises
    ------
    InputError
        Unreadable file or bad cells (every one, with row and column).
    ModelError
        A cohort the method cannot fit (too small, a constant gene).
    """
    from decidua.assays.timing import TimingReference
    from decidua.io.readers import file_sha256

    df = read_csv(cohort)
    ref = TimingReference() if n_seeds is None else TimingReference(n_seeds=n_seeds)
    cap = max_iterations or ref.max_iterations
    total = cap * ref.n_seeds
    done = [0]  # orderings so far, over all ensemble members

    def step(iteration: int, distance: float, window: int) -> None:
        done[0] += 1
        if on_ordering is not None:
            on_ordering(done[0], total, window, distance)

    ref.fit(df, seed=seed, max_iterations=max_iterations, progress=step, file=str(cohort))
    notes: list[str] = []
    n_batches = len(set(ref.result.batch)) if ref.result is not None else 0
    if calibrate and n_batches >= 3:
        ref.max_iterations = cap  # the folds refit with the same settings, cap included
        ref.calibrate(df, seed=seed, progress=on_fold, file=str(cohort))
    elif calibrate:
        notes.append(
            f"{n_batches} batch(es): interval calibration needs >= 3; placement intervals "
            "are uncalibrated (conservative)."
        )
    ref.provenance["data"] = str(cohort)
    ref.provenance["data_sha256"] = file_sha256(cohort)
    out.mkdir(parents=True, exist_ok=True)
    estimates_path = out / "estimates.csv"
    ref.estimates()[list(ESTIMATE_COLUMNS)].to_csv(estimates_path, index=False)
    reference_path = ref.save(out / "reference.json")
    return FitOutcome(ref, reference_path, estimates_path, tuple(notes))


# --------------------------------------------------------------------------------------
# place
# --------------------------------------------------------------------------------------


#: Largest |ΔCt| accepted for placement: a ΔCt is the difference of two Cq values
#: of one run, each between 0 and the run's cycle count (40-45 cycles in the
#: standard qPCR protocols), so a larger magnitude cannot come from a real run.
MAX_ABS_DELTA_CT = 45.0


def check_placement_input(df: pd.DataFrame, genes: Sequence[str], file: str) -> None:
    """Refuse empty biopsy IDs and ΔCt values no qPCR run can produce (every bad cell).

    Raises
    ------
    InputError
        Naming file, row, column and value.
    """
    import numpy as np
    import pandas as pd

    rows = df.attrs.get("rows")  # the file's rows (absent for a table built in memory)
    problems = []
    if "ID" in df.columns:
        for row, v in zip(rows, df["ID"].tolist(), strict=False):
            if v is None or (isinstance(v, float) and np.isnan(v)) or not str(v).strip():
                problems.append(Problem("biopsy ID is empty", file, row, "ID"))
    for gene in genes:
        if gene not in df.columns:
            continue
        values = pd.to_numeric(df[gene], errors="coerce").to_numpy(float)
        for row, v in zip(rows, values, strict=False):
            if np.isfinite(v) and abs(v) > MAX_ABS_DELTA_CT:
                problems.append(
                    Problem(
                        f"ΔCt {v:g} is impossible for a qPCR run (|ΔCt| at most "
                        f"{MAX_ABS_DELTA_CT:g})",
                        file, row, gene, v,
                    )
                )  # fmt: skip
    if problems:
        raise InputError(problems[:1000])


#: A ΔCt more than this many SDs beyond the lowest or highest ΔCt of a gene in the
#: reference's own training cohort is "far outside the reference range": such a
#: biopsy is still placed (the hard bound is |ΔCt| <= 45), but with a warning
#: (``timing place``) or a QC flag on its stored placement (``import qpcr``).
#: The SD is the gene's SD in the training cohort (after batch correction).
#: For the shipped reference (EndoTime training data) the ΔCt ranges run from
#: -1.1 (CXCL14) to 20.3 (IGFBP1) with SDs of 1.3-3.7, so 3 SDs is 3.9-11 cycles.
FAR_OUTSIDE_SD = 3.0


def far_outside_reference(
    ref: TimingReference, df: pd.DataFrame, file: str | None = None
) -> dict[int, list[str]]:
    """ΔCt values far outside the reference's training range (see :data:`FAR_OUTSIDE_SD`).

    Parameters
    ----------
    ref
        A fitted reference (its training range and SD per gene are used).
    df
        Biopsies with ``ID`` and one ΔCt column per gene of ``ref``; messages name
        the file rows of ``df.attrs["rows"]`` when it is there.

    Returns
    -------
    dict
        Position of the biopsy in ``df`` → one message per gene far outside.
    """
    import numpy as np

    st = ref.state
    if st is None:
        return {}
    span = st.scaling_max - st.scaling_min
    lo, hi = -st.scaling_max, -st.scaling_min  # the training ΔCt range (ΔCt = -expression)
    sd = np.asarray(st.expression, float).std(axis=0, ddof=1) * span
    rows = df.attrs.get("rows")  # the file's rows (absent for a table built in memory)
    ids = df["ID"].astype(str).tolist() if "ID" in df.columns else [""] * len(df)
    where = f"{file}: " if file else ""
    out: dict[int, list[str]] = {}
    for j, gene in enumerate(ref.genes):
        values = np.asarray(df[gene], float)
        low, high = lo[j] - FAR_OUTSIDE_SD * sd[j], hi[j] + FAR_OUTSIDE_SD * sd[j]
        for i in np.flatnonzero((values < low) | (values > high)):
            out.setdefault(int(i), []).append(
                f"{where}{f'row {rows[i]}, ' if rows else ''}biopsy {ids[i]!r}: {gene} ΔCt "
                f"{values[i]:g} is far outside the reference's training range ({lo[j]:.1f} to "
                f"{hi[j]:.1f}, more than {FAR_OUTSIDE_SD:g} SD = {FAR_OUTSIDE_SD * sd[j]:.1f} "
                "beyond it); its placement is unreliable: check the value"
            )
    return out


def place_biopsies(
    reference: Path | str, biopsies: Path, *, strict: bool = False
) -> tuple[Placement, list[dict[str, Any]]]:
    """Place the biopsies of a CSV on a saved (or the shipped) reference.

    Parameters
    ----------
    reference
        Reference directory or ``reference.json``, or ``"default"``.
    biopsies
        CSV with ``ID``, optional ``BATCH`` / ``LH``, one ΔCt column per gene.
    strict
        Refuse batches the reference does not know.

    Returns
    -------
    placement, rows
        The :class:`~decidua.assays.timing.Placement` (its ``warnings`` are not
        raised as Python warnings) and the ``timing place --json`` document: one
        object per biopsy, each with the research-use notice. A biopsy with a
        ΔCt far outside the reference range (:func:`far_outside_reference`)
        gets ``qc_flags`` in its object and a :class:`UserWarning` is issued
        (the CLI prints it as one ``Warning:`` line).
    """
    ref = load_reference(reference)
    df = read_csv(biopsies)
    check_placement_input(df, ref.genes, str(biopsies))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        placement = ref.place(df, strict=strict, file=str(biopsies))
    far = far_outside_reference(ref, df, str(biopsies))
    rows = placement.to_dict()["biopsies"]
    for i, r in enumerate(rows):
        if i in far:
            r["qc_flags"] = far[i]
        r["notice"] = RESEARCH_USE_LABEL
    for i in sorted(far):
        for message in far[i]:
            warnings.warn(message, UserWarning, stacklevel=2)
    return placement, rows


# --------------------------------------------------------------------------------------
# centiles
# --------------------------------------------------------------------------------------


def cycle_times(
    table: pd.DataFrame, time_column: str, reference: Path | str | None, file: str
) -> np.ndarray:
    """Cycle times for a marker table: its own column, or a reference's estimates by ID.

    Raises
    ------
    InputError
        No time column and no reference, no ``ID`` column, IDs not in the
        reference cohort (every one), or bad time cells.
    """
    if time_column in table.columns:
        return numeric_column(table, time_column, "cycle time", file)
    if reference is None:
        raise InputError(
            f"column {time_column!r} is missing; add it or give --reference to look up "
            "estimated times by ID",
            file=file,
            column=time_column,
        )
    ref = load_reference(reference)
    est = ref.estimates().set_index("ID")
    if "ID" not in table.columns:
        raise InputError("required column is missing", file=file, column="ID")
    ids = table["ID"].astype(str)
    missing = [i for i, known in enumerate(ids.isin(est.index).tolist()) if not known]
    if missing:
        raise InputError(
            [
                Problem("biopsy ID is not in the reference cohort", file, i + 2, "ID", ids.iloc[i])
                for i in missing
            ]
        )
    return est.loc[ids, "estimated_lh_day"].to_numpy(float)


@dataclass(frozen=True)
class CentilesOutcome:
    """A centile model of a marker, its standard curves by whole day and scored values.

    Attributes
    ----------
    model
        The fitted :class:`~decidua.assays.timing.TimingCentiles`.
    curves
        Table of the standard centiles at each whole day of the cohort's range.
    document
        The ``timing centiles --json`` document (``marker``, ``notice``,
        ``scores`` when values were scored, ``curves``).
    """

    model: TimingCentiles
    curves: pd.DataFrame
    document: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.document


def centiles(
    cohort: Path,
    marker: str,
    *,
    time_column: str = "estimated_lh_day",
    reference: Path | str | None = None,
    score: Path | None = None,
    save: Path | None = None,
    levels: Sequence[float] | None = None,
) -> CentilesOutcome:
    """Timing-adjusted centiles of a marker; optionally score new values and save the model.

    Parameters
    ----------
    cohort
        Reference CSV with the marker (and its cycle time, or IDs of ``reference``).
    marker
        Marker column, e.g. ``unk_pct``.
    time_column
        Cycle-time column.
    reference
        Reference (directory, file or ``"default"``) whose estimates give the times by ID.
    score
        CSV of new values (ID, time column, marker) to score.
    save
        Write the centile model (JSON) here.
    levels
        Centiles of the curves (default ``STANDARD_CENTILES``).
    """
    import numpy as np

    from decidua.assays.timing import STANDARD_CENTILES, TimingCentiles

    table = read_csv(cohort)
    t = cycle_times(table, time_column, reference, str(cohort))
    v = numeric_column(table, marker, "marker", str(cohort))
    model = TimingCentiles(marker, time_column).fit(t, v)
    if save is not None:
        model.save(save)
    out: dict[str, Any] = {"marker": marker, "notice": RESEARCH_USE_LABEL}
    if score is not None:
        new = read_csv(score)
        tn = cycle_times(new, time_column, reference, str(score))
        vn = numeric_column(new, marker, "marker", str(score))
        # the spline curves exist only over the cohort's times: beyond them a centile is
        # an extrapolation of nothing (LH+99 scored as if normal); refuse, naming the rows
        lo, hi = float(t.min()), float(t.max())
        rows = new.attrs.get("rows") or list(range(2, len(tn) + 2))
        outside = [Problem(f"cycle time {x:g} is outside the reference cohort's "
                           f"{lo:.2f}-{hi:.2f}: no centile there", str(score), rows[i],
                           time_column, float(x))
                   for i, x in enumerate(tn) if not lo <= x <= hi]
        if outside:
            raise InputError(outside)
        sc = model.score(tn, vn)
        ids = new["ID"].astype(str).tolist() if "ID" in new.columns else [""] * len(vn)
        out["scores"] = [
            {
                "ID": i,
                time_column: float(a),
                marker: float(b),
                "centile": round(float(c), 4),
                "z": round(float(z), 3),
            }
            for i, a, b, c, z in zip(ids, tn, vn, sc.centile, sc.z_score, strict=True)
        ]
    days = np.arange(np.ceil(t.min()), np.floor(t.max()) + 1)
    curves = model.curves(days, STANDARD_CENTILES if levels is None else levels)
    out["curves"] = curves.round(4).to_dict(orient="records")
    return CentilesOutcome(model, curves, out)


def write_default_reference(path: Path | None = None) -> Path:
    """Refit the shipped default reference and write it (default: the file in the package)."""
    from decidua.assays.timing import write_default_reference as write

    return write(path)


__all__ = [
    "DEFAULT_REFERENCE_WORD",
    "ESTIMATE_COLUMNS",
    "FAR_OUTSIDE_SD",
    "CentilesOutcome",
    "FitOutcome",
    "centiles",
    "cycle_times",
    "far_outside_reference",
    "fit_reference",
    "load_reference",
    "numeric_column",
    "place_biopsies",
    "read_csv",
    "write_default_reference",
]
