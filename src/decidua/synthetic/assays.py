"""Seeded SYNTHETIC assay results for the demo biopsies, from their latent truth.

For each demo biopsy (``truth.csv``: ``biopsy_id``, ``defective_cycle``,
``true_lh_day``) this module draws what the lab would have measured:

- **qPCR plates** (long CSV ``well, sample, target, task, cq`` on a 384-well
  block, A1-P24), the six EndoTime timing genes plus the RPL19 reference in
  duplicate, with ``biopsies_per_plate`` biopsies per plate (>= 10, so that every
  plate can be brought onto the timing reference, docs/qpcr.md), and the
  ``sample, biopsy_id`` map of each plate.
- **CFU manual counts** (``biopsy_id, plate, well, cells_seeded, colonies``).
- **uNK field counts** (``biopsy_id, field, cd56_positive, stromal_cells,
  magnification, protocol, method``) under the Tuckerman 2007 protocol.

How each is drawn (every figure with its source or labelled a local assumption):

ΔCq (timing genes)
    The gene curves of the shipped default timing reference (EndoTime, Lipecki
    et al., Hum Reprod 2022;37:747-761; its 257 training biopsies placed at the
    reference's own estimated LH day, LH+4.5 to LH+12.2; :func:`training_curves`):
    the mean ΔCq of each gene at the biopsy's *expression day*; around it a
    multivariate normal residual with the pooled within-batch covariance off
    those curves (genes co-vary as in real biopsies; the reference flags 18 % of
    its own training biopsies asynchronous, and normal cycles here inherit that
    spread).
    A normal cycle's expression day is its true cycle time (``true_lh_day``); a
    defective cycle is *out of phase*, its expression delayed by a draw from
    U(3, 5) days: 3 days is the classical "out of phase" criterion (histologic
    date >= 3 days behind the chronological date; Castelbaum et al., Fertil
    Steril 1994;61:443-447, :data:`decidua.literature.CASTELBAUM_1994_OUT_OF_PHASE_DAYS`),
    the 5-day upper end is a local assumption. Expression days are clipped to
    the range of the curves (LH+4.5 to LH+12.25): the reference has no curve outside it.
Cq
    RPL19 Cq ~ N(20, 1) per sample (RNA loading; local assumption), target Cq =
    RPL19 Cq + ΔCq + a per-plate offset N(0, 0.5) common to the plate's genes
    (run-to-run shift, local assumption; EndoTime corrects it per batch), each
    replicate well plus N(0, 0.15) technical noise (local assumption).
CFU
    500 cells seeded per well, two wells (local assumption, like the example
    sheet); colonies ~ Poisson(cells x rate), the biopsy's rate ~ Gamma with
    mean 2.0 % in a normal cycle (local assumption: Lucas et al., Stem Cells
    2016 show fewer clonogenic cells in RPL without a per-cell figure we could
    verify) and shape 4 (local). In a defective cycle the mean rate is divided
    by 1.52, the published CFU rate ratio of Tewary et al., EBioMedicine 2020
    (:data:`decidua.literature.TEWARY_2020_CFU_RATE_RATIO`; sitagliptin raised
    CFU counts by that ratio in RPL women — we borrow it as the size of a CFU
    deficit, an assumption).
uNK
    Tuckerman et al., Hum Reprod 2007 (:data:`decidua.literature.TUCKERMAN_2007_CONTROL_UNK_PCT`,
    ``..._RPL_UNK_PCT``): a normal cycle's uNK % ~ Beta with the control mean
    6.2 %, a defective cycle's with the RPL mean 11.2 %; SDs from the published
    ranges by the expected range of a normal sample (range / 3.1 for n = 10,
    range / 5.0 for n = 87; Tippett 1925): 3.8 and 8.1 points. Ten fields at
    x400 (Lash et al. 2016), stromal cells per field ~ Poisson(100) (local),
    field-to-field overdispersion intra-field correlation 0.05 (local).

Effect sizes are those figures; none was tuned to the screening call. Pure:
numpy only, no files (see :func:`write_assays` for the CSV files).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from decidua.literature import (
    CASTELBAUM_1994_OUT_OF_PHASE_DAYS,
    TEWARY_2020_CFU_RATE_RATIO,
    TUCKERMAN_2007_CONTROL_UNK_PCT,
    TUCKERMAN_2007_RPL_UNK_PCT,
)

#: Seed of the shipped demo assay files.
ASSAY_SEED = 20261201
#: The six EndoTime timing genes (Lipecki 2022) and the reference gene.
TIMING_GENES = ("IL2RB", "IGFBP1", "CXCL14", "DPP4", "GPX3", "SLC15A2")
REFERENCE_GENE = "RPL19"
#: Biopsies per 384-well plate: 24 x 7 targets x 2 replicates = 336 wells.
BIOPSIES_PER_PLATE = 24
REPLICATES = 2
#: Delay of a defective cycle's expression, days (low end: Castelbaum 1994; high: local).
DELAY_DAYS = (float(CASTELBAUM_1994_OUT_OF_PHASE_DAYS), 5.0)
REFERENCE_CQ = (20.0, 1.0)
PLATE_OFFSET_SD = 0.5
TECHNICAL_SD = 0.15
CFU_CELLS_SEEDED = 500
CFU_WELLS = 2
CFU_CONTROL_RATE = 0.02
CFU_GAMMA_SHAPE = 4.0
UNK_FIELDS = 10
UNK_STROMAL_PER_FIELD = 100
UNK_FIELD_RHO = 0.05
UNK_PROTOCOL = "tuckerman2007"
#: (mean %, SD %) of uNK: control and RPL, SD = range / expected range of n normals.
UNK_CONTROL = (TUCKERMAN_2007_CONTROL_UNK_PCT[0],
               (TUCKERMAN_2007_CONTROL_UNK_PCT[2] - TUCKERMAN_2007_CONTROL_UNK_PCT[1]) / 3.1)
UNK_RPL = (TUCKERMAN_2007_RPL_UNK_PCT[0],
           (TUCKERMAN_2007_RPL_UNK_PCT[2] - TUCKERMAN_2007_RPL_UNK_PCT[1]) / 5.0)

_ROWS = "ABCDEFGHIJKLMNOP"


@dataclass(frozen=True)
class GeneCurves:
    """Per-day mean ΔCq of each timing gene and the residual covariance.

    Attributes
    ----------
    days
        Grid of LH days (ascending).
    mean
        (days, genes) mean ΔCq on the grid, genes in :data:`TIMING_GENES` order.
    cov
        (genes, genes) pooled within-batch residual covariance off the curves.

    Examples
    --------
    >>> import numpy as np
    >>> c = GeneCurves(np.array([5.0, 9.0]), np.array([[1.0, 2.0], [3.0, 6.0]]), np.eye(2))
    >>> c.at(7.0).tolist()
    [2.0, 4.0]
    >>> c.at(30.0).tolist()  # clipped to the grid
    [3.0, 6.0]
    """

    days: np.ndarray
    mean: np.ndarray
    cov: np.ndarray

    def at(self, day: float) -> np.ndarray:
        """Mean ΔCq of each gene at ``day`` (linear interpolation, clipped)."""
        d = float(np.clip(day, self.days[0], self.days[-1]))
        return np.array([np.interp(d, self.days, self.mean[:, j])
                         for j in range(self.mean.shape[1])])


#: Kernel (Gaussian SD, days) smoothing the training ΔCq along the reference's time.
CURVE_BANDWIDTH = 0.75


def training_curves() -> GeneCurves:
    """:class:`GeneCurves` of the shipped default timing reference.

    Each training biopsy of the reference (EndoTime's 257) is put at the reference's own
    estimate of its LH day (``TimingReference.estimates()``, not the self-reported LH
    day, whose error would otherwise enter the residuals as fake asynchrony); its ΔCq
    minus its batch's mean residual are smoothed along that time (Gaussian kernel,
    :data:`CURVE_BANDWIDTH`) on a quarter-day grid over the estimates' range; the
    residual covariance is pooled over all training biopsies, the 18 % the reference
    flags asynchronous included (so normal cycles are asynchronous about as often).

    Examples
    --------
    >>> c = training_curves()
    >>> c.mean.shape[1] == len(TIMING_GENES) == c.cov.shape[0]
    True
    >>> bool(np.all(np.linalg.eigvalsh(c.cov) > 0))  # a usable covariance
    True
    """
    from decidua.assays.timing.default import load_default_reference
    from decidua.assays.timing.validation import load_endotime_training_data

    df = load_endotime_training_data()
    est = load_default_reference().estimates().set_index("ID").loc[df["ID"]]
    x = df[list(TIMING_GENES)].to_numpy(float)
    t = est["estimated_lh_day"].to_numpy(float)
    batch = df["BATCH"].to_numpy()

    def smooth(at: np.ndarray, values: np.ndarray) -> np.ndarray:
        w = np.exp(-0.5 * ((at[:, None] - t[None, :]) / CURVE_BANDWIDTH) ** 2)
        return (w @ values) / w.sum(axis=1, keepdims=True)

    xb = x.copy()
    for _ in range(3):  # batch means of the residuals, removed
        resid = x - smooth(t, xb)
        xb = x.copy()
        for b in np.unique(batch):
            xb[batch == b] -= resid[batch == b].mean(axis=0)
    resid = xb - smooth(t, xb)
    days = np.arange(np.floor(t.min() * 4) / 4, np.ceil(t.max() * 4) / 4 + 0.01, 0.25)
    return GeneCurves(days, smooth(days, xb), np.cov(resid, rowvar=False))


@dataclass(frozen=True)
class DemoAssays:
    """Generated rows (lists of dicts, CSV-ready) of every assay file.

    Attributes
    ----------
    plates
        Per plate: its wells (``well, sample, target, task, cq``).
    maps
        Per plate: ``sample, biopsy_id`` rows.
    cfu, unk
        Count-sheet rows.
    expression_day
        Per biopsy: the day its timing genes were drawn at (the latent truth).

    Examples
    --------
    >>> rows = [{"biopsy_id": f"B{i}", "defective_cycle": "true", "true_lh_day": "8"}
    ...         for i in range(10)]
    >>> a = generate_assays(rows, seed=2)
    >>> isinstance(a, DemoAssays), all(d < 8 for d in a.expression_day.values())
    (True, True)
    """

    plates: list[list[dict[str, Any]]]
    maps: list[list[dict[str, str]]]
    cfu: list[dict[str, Any]]
    unk: list[dict[str, Any]]
    expression_day: dict[str, float]


def _well(i: int) -> str:
    return f"{_ROWS[i // 24]}{i % 24 + 1}"


def _beta(rng: np.random.Generator, mean: float, sd: float) -> float:
    k = mean * (1 - mean) / sd**2 - 1
    return float(rng.beta(mean * k, (1 - mean) * k))


def generate_assays(
    truth: list[dict[str, str]], *, seed: int = ASSAY_SEED,
    curves: GeneCurves | None = None, biopsies_per_plate: int = BIOPSIES_PER_PLATE,
) -> DemoAssays:
    """Draw every assay of the given biopsies from their latent state.

    Parameters
    ----------
    truth
        Rows with ``biopsy_id``, ``defective_cycle`` (``true``/``false``) and
        ``true_lh_day`` (as in ``truth.csv``), in the order plates are filled.
    seed
        Seed of the generator (the same seed gives the same rows).
    curves
        Gene curves (default :func:`training_curves`).
    biopsies_per_plate
        Target plate size (plates are split evenly; each >= 10 when possible).

    Examples
    --------
    >>> rows = [{"biopsy_id": f"B{i}", "defective_cycle": "false", "true_lh_day": "8"}
    ...         for i in range(12)]
    >>> a = generate_assays(rows, seed=1)
    >>> len(a.plates), len(a.plates[0]), len(a.unk)
    (1, 168, 120)
    """
    if biopsies_per_plate < 10:
        raise ValueError("biopsies_per_plate must be >= 10 (plates must be callable)")
    curves = curves or training_curves()
    rng = np.random.default_rng(seed)
    n = len(truth)
    n_plates = max(1, -(-n // biopsies_per_plate))
    chunks = np.array_split(np.arange(n), n_plates)
    chol = np.linalg.cholesky(curves.cov)
    plates: list[list[dict[str, Any]]] = []
    maps: list[list[dict[str, str]]] = []
    cfu: list[dict[str, Any]] = []
    unk: list[dict[str, Any]] = []
    expr: dict[str, float] = {}
    targets = (*TIMING_GENES, REFERENCE_GENE)
    for p, idx in enumerate(chunks, start=1):
        offset = rng.normal(0.0, PLATE_OFFSET_SD)
        wells: list[dict[str, Any]] = []
        pmap: list[dict[str, str]] = []
        w = 0
        for s, i in enumerate(idx, start=1):
            row = truth[int(i)]
            code = row["biopsy_id"]
            defective = row["defective_cycle"].strip().lower() == "true"
            day = float(row["true_lh_day"])
            if defective:
                day -= rng.uniform(*DELAY_DAYS)
            expr[code] = day
            dcq = curves.at(day) + chol @ rng.standard_normal(len(TIMING_GENES))
            ref_cq = rng.normal(*REFERENCE_CQ)
            sample = f"S{s:02d}"
            pmap.append({"sample": sample, "biopsy_id": code})
            for t, target in enumerate(targets):
                base = ref_cq if target == REFERENCE_GENE else ref_cq + dcq[t] + offset
                for _ in range(REPLICATES):
                    cq = base + rng.normal(0.0, TECHNICAL_SD)
                    wells.append({"well": _well(w), "sample": sample, "target": target,
                                  "task": "unknown", "cq": f"{cq:.3f}"})
                    w += 1
            # CFU: the biopsy's clonogenic rate, two wells
            mean_rate = CFU_CONTROL_RATE / (TEWARY_2020_CFU_RATE_RATIO[0] if defective else 1.0)
            rate = rng.gamma(CFU_GAMMA_SHAPE, mean_rate / CFU_GAMMA_SHAPE)
            for k in range(CFU_WELLS):
                cfu.append({"biopsy_id": code, "plate": f"CFU{p:02d}", "well": _well(
                    (s - 1) * CFU_WELLS + k), "cells_seeded": CFU_CELLS_SEEDED,
                    "colonies": int(rng.poisson(CFU_CELLS_SEEDED * rate))})
            # uNK: the biopsy's share, beta-binomial fields
            m, sd = UNK_RPL if defective else UNK_CONTROL
            share = _beta(rng, m / 100, sd / 100)
            k_field = (1 - UNK_FIELD_RHO) / UNK_FIELD_RHO
            for f in range(1, UNK_FIELDS + 1):
                stromal = max(1, int(rng.poisson(UNK_STROMAL_PER_FIELD)))
                pf = rng.beta(share * k_field, (1 - share) * k_field)
                unk.append({"biopsy_id": code, "field": f,
                            "cd56_positive": int(rng.binomial(stromal, pf)),
                            "stromal_cells": stromal, "magnification": "x400",
                            "protocol": UNK_PROTOCOL, "method": "manual"})
        plates.append(wells)
        maps.append(pmap)
    return DemoAssays(plates, maps, cfu, unk, expr)


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        wr.writeheader()
        wr.writerows(rows)


def write_assays(truth_csv: str | Path, out_dir: str | Path, *, seed: int = ASSAY_SEED) -> Path:
    """Generate from ``truth_csv`` and write ``qpcr/plate-NN.csv``, ``qpcr/plate-NN-map.csv``,
    ``cfu.csv`` and ``unk.csv`` under ``out_dir``; returns ``out_dir``.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "truth.csv").write_text("biopsy_id,defective_cycle,true_lh_day\\n"
    ...     + "".join(f"B{i},false,7\\n" for i in range(10)))
    >>> out = write_assays(d / "truth.csv", d / "assays", seed=3)
    >>> sorted(p.name for p in (out / "qpcr").iterdir())
    ['plate-01-map.csv', 'plate-01.csv']
    """
    with Path(truth_csv).open(newline="") as fh:
        truth = list(csv.DictReader(fh))
    a = generate_assays(truth, seed=seed)
    out = Path(out_dir)
    (out / "qpcr").mkdir(parents=True, exist_ok=True)
    for p, (wells, pmap) in enumerate(zip(a.plates, a.maps, strict=True), start=1):
        _write(out / "qpcr" / f"plate-{p:02d}.csv", wells)
        _write(out / "qpcr" / f"plate-{p:02d}-map.csv", pmap)
    _write(out / "cfu.csv", a.cfu)
    _write(out / "unk.csv", a.unk)
    return out


if __name__ == "__main__":  # pragma: no cover - regeneration command
    import sys

    here = Path(__file__).resolve().parents[1] / "data" / "demo"
    write_assays(here / "truth.csv", sys.argv[1] if len(sys.argv) > 1 else here / "assays")
