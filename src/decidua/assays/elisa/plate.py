"""One ELISA plate: wells with their roles, the standard curve, back-calculated samples, LLOQ/ULOQ.

Pure: takes plate records (as the readers in :mod:`decidua.io.platereader`
build them) and returns frozen results. Bad plates raise
:class:`~decidua.errors.InputError` naming the plate, the well and the field.

Quantification range (LLOQ / ULOQ)
----------------------------------
A non-zero standard is *acceptable* when its recovery (back-calculated
concentration of the mean response / nominal) is within 100 +/- 20 % and the
CV of its replicates' back-calculated concentrations is <= 20 %; at the ends
of the range 100 +/- 25 % and 25 % are allowed. LLOQ and ULOQ are the lowest
and highest concentrations of the widest run of consecutive standards whose
ends are acceptable at the end limits and whose inner standards at the inner
limits (ties: the run at lower concentrations). These are the
ligand-binding-assay acceptance limits of the FDA Bioanalytical Method
Validation guidance (2018, section III.B) and ICH M10 (2022, section 7.2.3:
calibration standards within +/-20 % of nominal, +/-25 % at LLOQ and ULOQ).
A single replicate gives no CV and is judged on recovery alone.

Standards must be monotone: a mean response stepping against the overall
direction by more than both :data:`MONOTONE_TOLERANCE` (10 %) of the
standards' response range and :data:`MONOTONE_SE` (3) standard errors of the
difference of the two means (pooled replicate SD) is refused (a hook effect,
swapped wells); smaller steps (noise on a plateau) are left to the fit. No
acceptable standard: LLOQ and ULOQ are ``None`` and every sample is flagged.

Flags of a well (``flag``; ``None`` when none applies, the first that applies wins)
-----------------------------------------------------------------------------------
``masked``                the well was masked (who and why kept on the well)
``beyond_zero_asymptote`` response at or beyond ``a`` (the zero-concentration
                          asymptote): no concentration
``beyond_top_asymptote``  response at or beyond ``d``: no concentration
``below_lloq`` / ``above_uloq``  concentration read, but outside the range
A sample's flag: the first of its unmasked wells' flags, else ``high_cv``
when the CV of its wells' concentrations exceeds :data:`SAMPLE_CV_LIMIT_PCT`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from decidua.assays.elisa.curve import StandardCurve, StandardPoint, _num, mean_sd
from decidua.errors import InputError, ModelError, Problem
from decidua.stats import Interval

ROLES = ("standard", "blank", "sample", "control", "empty")
#: Recovery and CV limits (percent) for inner standards and for the ends of the range (LLOQ/ULOQ);
#: FDA BMV guidance 2018 III.B, ICH M10 2022 7.2.3 (ligand-binding assays).
RECOVERY_LIMIT_PCT = 20.0
RECOVERY_LIMIT_EDGE_PCT = 25.0
CV_LIMIT_PCT = 20.0
CV_LIMIT_EDGE_PCT = 25.0
#: A standard's mean response may step against the curve's direction by at most this fraction of
#: the standards' response range (noise on a plateau) before the curve is refused as non-monotone
#: (a hook effect, swapped wells).
MONOTONE_TOLERANCE = 0.10
#: ... or by this many standard errors of the difference of the two means (pooled replicate SD).
MONOTONE_SE = 3.0
#: CV above which a sample's replicate concentrations are flagged ``high_cv`` (same source).
SAMPLE_CV_LIMIT_PCT = 20.0


@dataclass(frozen=True)
class Mask:
    """Why a well is left out: who masked it and the reason."""

    by: str
    reason: str


@dataclass(frozen=True)
class Well:
    """One well as read and mapped.

    Attributes
    ----------
    well
        Well name, e.g. ``"B3"``.
    role
        One of :data:`ROLES`.
    od
        Response used for the curve (reference-wavelength- or blank-subtracted
        when the reader did so); NaN for empty wells.
    concentration
        Nominal concentration (standards only).
    dilution
        Dilution factor of the sample in the well (>= 1 usually; concentration
        reported = in-well concentration x dilution).
    sample
        Sample (or standard / control) name as the file gives it.
    group
        Group name from the file or map (e.g. ``"Standards"``).
    mask
        :class:`Mask` when the well is masked, else ``None``.
    """

    well: str
    role: str
    od: float
    concentration: float | None = None
    dilution: float = 1.0
    sample: str | None = None
    group: str | None = None
    mask: Mask | None = None


@dataclass(frozen=True)
class PlateData:
    """A plate ready for analysis: its name, the analyte, its wells, where it came from."""

    plate: str
    wells: tuple[Well, ...]
    analyte: str | None = None
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def masked(self, masks: dict[str, Mask]) -> PlateData:
        """A copy with ``masks`` (well -> :class:`Mask`) applied."""
        names = {w.well for w in self.wells}
        bad = [k for k in masks if k not in names]
        if bad:
            raise InputError(
                [_problem(self, k, "well", "masked well is not on the plate", k) for k in bad]
            )
        return replace(
            self, wells=tuple(replace(w, mask=masks.get(w.well, w.mask)) for w in self.wells)
        )


@dataclass(frozen=True)
class WellResult:
    """A well with its back-calculated concentration.

    ``concentration`` includes the dilution factor; ``in_well_concentration``
    does not. Both are ``None`` beyond an asymptote (and for standards'
    nominal values see ``nominal``).
    """

    well: str
    role: str
    group: str | None
    sample: str | None
    od: float
    nominal: float | None
    dilution: float
    in_well_concentration: float | None
    concentration: float | None
    flag: str | None
    mask: Mask | None

    def to_dict(self) -> dict[str, Any]:
        """The CLI's per-well shape (plus role, nominal, dilution, mask)."""
        return {
            "well": self.well,
            "group": self.group,
            "sample": self.sample,
            "role": self.role,
            "od": _num(self.od),
            "nominal": _num(self.nominal),
            "dilution": self.dilution,
            "concentration": _num(self.concentration),
            "flag": self.flag,
            "mask": None if self.mask is None else {"by": self.mask.by, "reason": self.mask.reason},
        }


@dataclass(frozen=True)
class SampleResult:
    """A sample (or control): mean of its unmasked wells' concentrations (dilution applied).

    ``interval``: the concentration of the sample's mean OD (x dilution) with a
    delta-method inverse-prediction interval (curve covariance + the wells'
    OD variance; see :meth:`StandardCurve.concentration_intervals`); ``None``
    beyond an asymptote, with mixed dilutions or no unmasked well.
    """

    sample: str
    role: str
    wells: tuple[str, ...]
    n: int
    dilution: float | None
    mean_concentration: float | None
    sd_concentration: float | None
    cv_pct: float | None
    flag: str | None
    interval: Interval | None = None

    def to_dict(self) -> dict[str, Any]:
        """The CLI's per-sample shape."""
        return {
            "interval": None if self.interval is None else self.interval.to_dict(),
            "sample": self.sample,
            "role": self.role,
            "wells": list(self.wells),
            "n": self.n,
            "dilution": self.dilution,
            "mean_concentration": _num(self.mean_concentration),
            "cv_pct": _num(self.cv_pct),
            "flag": self.flag,
        }


@dataclass(frozen=True)
class PlateResult:
    """The analysis of one plate."""

    plate: str
    analyte: str | None
    curve: StandardCurve
    lloq: float | None
    uloq: float | None
    wells: tuple[WellResult, ...]
    samples: tuple[SampleResult, ...]
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``decidua elisa fit --json`` shape of one plate."""
        return {
            "plate": self.plate,
            "analyte": self.analyte,
            "model": self.curve.model,
            "weights": self.curve.weights,
            "params": dict(self.curve.params),
            "param_intervals": {k: v.to_dict() for k, v in self.curve.param_intervals.items()},
            "r2": _num(self.curve.r2),
            "residual_se": _num(self.curve.residual_se),
            "lloq": _num(self.lloq),
            "uloq": _num(self.uloq),
            "standards": [s.to_dict() for s in self.curve.standards],
            "wells": [w.to_dict() for w in self.wells],
            "samples": [s.to_dict() for s in self.samples],
        }


def _problem(
    plate: PlateData, well: str | None, fld: str, reason: str, value: Any = None
) -> Problem:
    where = f"plate {plate.plate!r}" + (f", well {well}" if well else "") + f", field {fld!r}"
    return Problem(f"{where}: {reason}", file=plate.source, value=value)


def _acceptable(s: StandardPoint, rec_lim: float, cv_lim: float) -> bool:
    recovery, cv = s.recovery_pct, s.conc_cv_pct
    if not all(math.isfinite(v) for v in s.replicate_back_calculated):
        return False
    if not math.isfinite(recovery) or abs(recovery - 100.0) > rec_lim:
        return False
    return not (math.isfinite(cv) and cv > cv_lim)


def quantification_range(curve: StandardCurve) -> tuple[float | None, float | None]:
    """LLOQ and ULOQ (in-well concentrations) by the rule in the module docstring."""
    pts = [s for s in curve.standards if s.concentration > 0]
    inner = [_acceptable(s, RECOVERY_LIMIT_PCT, CV_LIMIT_PCT) for s in pts]
    edge = [_acceptable(s, RECOVERY_LIMIT_EDGE_PCT, CV_LIMIT_EDGE_PCT) for s in pts]
    best: tuple[int, int] | None = None
    for i in range(len(pts)):
        if not edge[i]:
            continue
        for j in range(i, len(pts)):
            if not edge[j]:
                continue
            if all(inner[i + 1 : j]) and (best is None or j - i > best[1] - best[0]):
                best = (i, j)
    if best is None:
        return None, None
    return pts[best[0]].concentration, pts[best[1]].concentration


def validate_standards(plate: PlateData, model: str) -> list[Well]:
    """Unmasked standard wells, checked: numeric, enough levels, not flat, monotone.

    Raises
    ------
    InputError
        Naming plate, well and field for each problem found.
    """
    stds = [w for w in plate.wells if w.role == "standard"]
    if not stds:
        raise InputError(_problem(plate, None, "role", "no standard wells on the plate"))
    problems = []
    for w in stds:
        if w.concentration is None or not math.isfinite(w.concentration) or w.concentration < 0:
            problems.append(
                _problem(plate, w.well, "concentration",
                         "a standard needs a nominal concentration >= 0", w.concentration)
            )
        if w.mask is None and not math.isfinite(w.od):
            problems.append(_problem(plate, w.well, "od", "standard OD is not a number", w.od))
    if problems:
        raise InputError(problems)
    use = [w for w in stds if w.mask is None]
    levels = sorted({float(w.concentration) for w in use})  # type: ignore[arg-type]
    need = 5 if model == "4pl" else 6
    if len(levels) < need:
        raise InputError(
            _problem(plate, None, "concentration",
                     f"a {model.upper()} needs at least {need} distinct unmasked standard "
                     f"concentrations, got {len(levels)}", len(levels))
        )
    by_level = {c: [w for w in use if w.concentration == c] for c in levels}
    msd = [mean_sd([w.od for w in by_level[c]]) for c in levels]
    means = np.array([m for m, _ in msd])
    if np.ptp(means) == 0:
        raise InputError(
            _problem(plate, None, "od", "all standards have the same OD", float(means[0]))
        )
    diffs = np.diff(means)
    trend = 1.0 if means[-1] >= means[0] else -1.0
    tol = np.full(diffs.size, MONOTONE_TOLERANCE * float(np.ptp(means)))
    var = [s * s for _, s in msd if s == s]
    if var:  # replicate noise: 3 standard errors of the difference of two means
        sp2 = sum(var) / len(var)
        ns = np.array([len(by_level[c]) for c in levels], dtype=float)
        tol = np.maximum(tol, MONOTONE_SE * np.sqrt(sp2 * (1 / ns[:-1] + 1 / ns[1:])))
    wrong = np.nonzero(diffs * trend < -tol)[0]
    if wrong.size:
        problems = []
        for i in wrong:
            c0, c1 = levels[i], levels[i + 1]
            wells = ",".join(w.well for w in by_level[c1])
            problems.append(
                _problem(
                    plate, wells, "od",
                    f"standard response is not monotone in concentration: mean OD "
                    f"{means[i]:.4g} at {c0:g} then {means[i + 1]:.4g} at {c1:g}",
                    float(means[i + 1]),
                )
            )
        raise InputError(problems)
    return use


def analyse_plate(
    plate: PlateData,
    *,
    model: str = "4pl",
    weights: str = "none",
    fit_to: str = "mean",
    masks: dict[str, Mask] | None = None,
) -> PlateResult:
    """Fit the plate's standard curve and back-calculate every well and sample.

    Parameters
    ----------
    plate
        Wells with roles, OD, nominal concentrations (standards), dilutions.
    model, weights, fit_to
        See :class:`~decidua.assays.elisa.curve.StandardCurve`.
    masks
        Extra masks (well -> :class:`Mask`) applied before fitting.

    Raises
    ------
    InputError
        Bad standards (see :func:`validate_standards`) or non-positive dilutions.
    ModelError
        When the curve does not converge.
    """
    if masks:
        plate = plate.masked(masks)
    bad_dil = [w for w in plate.wells if not (math.isfinite(w.dilution) and w.dilution > 0)]
    if bad_dil:
        raise InputError(
            _problem(plate, w.well, "dilution", "dilution must be > 0", w.dilution)
            for w in bad_dil
        )
    use = validate_standards(plate, model)
    try:
        curve = StandardCurve(model, weights, fit_to).fit(
            np.array([w.concentration for w in use], dtype=float), np.array([w.od for w in use])
        )
    except ModelError as exc:
        raise ModelError(
            f"plate {plate.plate!r}: the {model.upper()} standard curve could not be fitted "
            f"({exc}); the standards may lack a plateau or the model may not suit them"
        ) from None
    lloq, uloq = quantification_range(curve)
    wells = back_calculate(plate.wells, curve, lloq, uloq)
    return PlateResult(
        plate=plate.plate, analyte=plate.analyte, curve=curve, lloq=lloq, uloq=uloq,
        wells=wells, samples=summarise_samples(wells, curve), source=plate.source,
    )


def back_calculate(
    wells: Sequence[Well], curve: StandardCurve, lloq: float | None, uloq: float | None
) -> tuple[WellResult, ...]:
    """Concentrations and flags for every well (empty wells left out)."""
    keep = [w for w in wells if w.role != "empty"]
    od_list = [float(w.od) for w in keep]
    conc = curve.concentration(np.array(od_list)).tolist()
    a, d = curve.params["a"], curve.params["d"]
    out = []
    for w, y, x in zip(keep, od_list, conc, strict=True):
        flag = None
        if not math.isfinite(x):
            x_val = None
            if math.isfinite(y):
                # which asymptote: the one the response is at or beyond
                near_a = abs(y - a) <= abs(y - d)
                flag = "beyond_zero_asymptote" if near_a else "beyond_top_asymptote"
            else:
                flag = "no_response"
        else:
            x_val = x
            if lloq is None or x_val < lloq:
                flag = "below_lloq"
            elif uloq is not None and x_val > uloq:
                flag = "above_uloq"
        if w.mask is not None:
            flag = "masked"
        out.append(
            WellResult(
                well=w.well, role=w.role, group=w.group, sample=w.sample, od=y,
                nominal=w.concentration, dilution=w.dilution, in_well_concentration=x_val,
                concentration=None if x_val is None else x_val * w.dilution, flag=flag, mask=w.mask,
            )
        )
    return tuple(out)


def summarise_samples(
    wells: Sequence[WellResult], curve: StandardCurve | None = None
) -> tuple[SampleResult, ...]:
    """Group sample and control wells by sample name (file order) and summarise them.

    With ``curve``, each sample also gets its concentration interval.
    """
    order: dict[tuple[str, str], list[WellResult]] = {}
    for w in wells:
        if w.role in ("sample", "control"):
            key = (w.role, w.sample or w.well)
            order.setdefault(key, []).append(w)
    rows = []
    for (role, name), ws in order.items():
        live = [w for w in ws if w.mask is None]
        vals = [w.concentration for w in live if w.concentration is not None]
        ods = [w.od for w in live if w.concentration is not None]
        dils = {w.dilution for w in ws}
        rows.append((role, name, ws, live, vals, ods, dils.pop() if len(dils) == 1 else None))
    ivs: list[Interval | None] = [None] * len(rows)
    if curve is not None and rows:
        # one vectorised pass for every sample's interval
        msd = [mean_sd(r[5]) for r in rows]
        est, lo, hi = curve.concentration_intervals(
            np.array([m for m, _ in msd]), np.array([len(r[5]) for r in rows], dtype=float),
            np.array([sd * sd for _, sd in msd]),
        )
        method = f"delta method, t with {curve.df} df (curve + replicate OD variance)"
        for k, (r, e, a, b) in enumerate(zip(rows, est.tolist(), lo.tolist(), hi.tolist(),
                                             strict=True)):
            dil = r[6]
            if r[5] and dil is not None and e == e:
                ivs[k] = Interval(e * dil, a * dil, b * dil, curve.level, method)
    out = []
    for (role, name, ws, live, vals, _, dil), iv in zip(rows, ivs, strict=True):
        flag = next((w.flag for w in live if w.flag is not None), None)
        m, s = mean_sd(vals)
        mean = m if vals else None
        sd = s if len(vals) > 1 else None
        cv = 100 * sd / mean if sd is not None and mean else None
        if flag is None and cv is not None and cv > SAMPLE_CV_LIMIT_PCT:
            flag = "high_cv"
        if not live:
            flag = "masked"
        out.append(
            SampleResult(
                sample=name, role=role, wells=tuple(w.well for w in ws), n=len(vals),
                dilution=dil, mean_concentration=mean, sd_concentration=sd, cv_pct=cv,
                flag=flag, interval=iv,
            )
        )
    return tuple(out)


__all__ = [
    "ROLES", "Mask", "PlateData", "PlateResult", "SampleResult", "Well", "WellResult",
    "analyse_plate", "back_calculate", "quantification_range", "summarise_samples",
    "validate_standards",
]
