"""Relative quantification of a qPCR plate (pure): replicate means, ΔCq, ΔΔCq, RQ.

Every formula is written out in ``docs/qpcr.md``; in short, for sample *s* and
target *t* over the determined, non-omitted replicate wells:

- ``cq_mean`` = arithmetic mean; ``cq_sd`` = sample SD (n - 1), flagged above
  ``sd_threshold`` (0.5 cycles by default).
- ``delta_cq`` = cq_mean(t) - R(s), R(s) = mean over the reference genes of each
  gene's mean Cq (EndoTime's sign: higher = less expression). When every
  target well also carries the reference genes (multiplex), R uses those same
  wells, as the instrument software does.
- ``delta_delta_cq`` = ΔCq(s, t) - ΔCq(calibrator, t).
- efficiency from in-plate standards: least squares of Cq on log10(quantity)
  over every determined standard well; E = 10^(-1/slope) - 1.
- ``rq`` = Pfaffl ratio (Pfaffl, Nucleic Acids Res 2001;29:e45; several
  reference genes by their geometric mean, Vandesompele et al., Genome Biol
  2002;3:research0034) when every gene involved has an efficiency, else
  2^-ΔΔCq (Livak & Schmittgen, Methods 2001;25:402).
- ``rq_low``/``rq_high``: the replicate SDs carried to the exponent, as Livak &
  Schmittgen 2001 do: 2^-(ΔΔCq ± s), s = sqrt(s_t^2 + s_R^2), the calibrator
  treated as fixed; ±1 SD, stated as level 0.6827.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from decidua.assays.qpcr.wells import Plate, Well
from decidua.errors import InputError, Problem
from decidua.stats import Interval

#: EndoTime normalises the timing panel to L19 (RPL19); BRIEF §3, EndoTime's
#: convention. The default reference is whichever of these names is on the plate.
DEFAULT_REFERENCE_GENES: tuple[str, ...] = ("RPL19", "L19")
#: Technical replicates more than this many cycles apart (sample SD) are flagged.
#: A common laboratory QC limit, a local assumption (configurable).
DEFAULT_SD_THRESHOLD = 0.5
#: Nominal coverage of ±1 SD under a normal error (what Livak & Schmittgen 2001 print).
ONE_SD_LEVEL = 0.6827
RQ_INTERVAL_METHOD = (
    "Livak & Schmittgen 2001: exponent ± 1 SD, s = sqrt(s_target^2 + s_reference^2) "
    "from technical-replicate SDs, calibrator fixed")
#: Tasks that give a result row (controls and standards do not).
RESULT_TASKS = ("unknown", "positive")



def _finite(x: float | None) -> float | None:
    """JSON-safe: a finite float or ``None`` (never NaN / inf)."""
    return None if x is None or not math.isfinite(float(x)) else float(x)


@dataclass(frozen=True)
class StandardCurve:
    """Cq = slope · log10(quantity) + intercept over a target's standard wells."""

    target: str
    slope: float
    intercept: float
    r_squared: float
    efficiency: float
    n_wells: int
    n_levels: int

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "slope": self.slope, "intercept": self.intercept,
                "r_squared": self.r_squared, "efficiency": self.efficiency,
                "n_wells": self.n_wells, "n_levels": self.n_levels}


@dataclass(frozen=True)
class WellCall:
    """A well as read, with the flags the analysis added."""

    well: str
    sample: str
    target: str
    cq: float | None
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"well": self.well, "sample": self.sample, "target": self.target,
                "cq": self.cq, "flags": list(self.flags)}


@dataclass(frozen=True)
class QuantResult:
    """One sample x target."""

    sample: str
    target: str
    cq_mean: float | None
    cq_sd: float | None
    n_replicates: int
    n_undetermined: int
    delta_cq: float | None
    delta_delta_cq: float | None
    efficiency: float | None
    rq: Interval | None
    delta_cq_sd: float | None = None
    flags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The ``results`` row of ``decidua qpcr quantify --json``."""
        rq = self.rq
        return {
            "sample": self.sample, "target": self.target, "cq_mean": _finite(self.cq_mean),
            "cq_sd": _finite(self.cq_sd), "delta_cq": _finite(self.delta_cq),
            "delta_delta_cq": _finite(self.delta_delta_cq),
            "efficiency": _finite(self.efficiency),
            "rq": None if rq is None else _finite(rq.estimate),
            "rq_low": None if rq is None else _finite(rq.low),
            "rq_high": None if rq is None else _finite(rq.high),
            "flags": list(self.flags),
        }


@dataclass(frozen=True)
class Quantification:
    """Everything :func:`quantify` computed for one plate."""

    wells: tuple[WellCall, ...]
    results: tuple[QuantResult, ...]
    reference_genes: tuple[str, ...]
    calibrator: str | None
    standard_curves: dict[str, StandardCurve] = field(default_factory=dict)
    sd_threshold: float = DEFAULT_SD_THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        """``{"wells": [...], "results": [...]}`` (the CLI's JSON)."""
        return {"wells": [w.to_dict() for w in self.wells],
                "results": [r.to_dict() for r in self.results]}

    def result(self, sample: str, target: str) -> QuantResult:
        for r in self.results:
            if r.sample == sample and r.target == target:
                return r
        raise KeyError((sample, target))


_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6}
_NAME_QTY_RE = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([kKmM]?)(?![A-Za-z])")


def quantity_from_name(name: str) -> float | None:
    """The last number in a standard's sample name, with an optional k / M suffix.

    ``"STD_RNase P_625.0"`` -> 625, ``"Std_10K"`` -> 10000, ``"Standard 1 (1e8)"`` -> 1e8.
    """
    found = _NAME_QTY_RE.findall(name or "")
    if not found:
        return None
    number, suffix = found[-1]
    return float(number) * _SUFFIX[suffix.lower()]


def fit_standard_curve(target: str, quantities: Sequence[float],
                       cqs: Sequence[float]) -> StandardCurve:
    """Least-squares Cq on log10(quantity); E = 10^(-1/slope) - 1.

    Raises
    ------
    InputError
        Fewer than two distinct quantities, or a quantity <= 0.
    """
    q = np.asarray(quantities, dtype=float)
    y = np.asarray(cqs, dtype=float)
    if np.any(q <= 0):
        raise InputError(f"standard quantities of {target!r} must be > 0", column="quantity")
    x = np.log10(q)
    levels = len(np.unique(x))
    if levels < 2:
        raise InputError(f"target {target!r}: standards need at least two different "
                         "quantities to estimate an efficiency", column="quantity")
    xm, ym = x.mean(), y.mean()
    sxx = float(((x - xm) ** 2).sum())
    slope = float(((x - xm) * (y - ym)).sum() / sxx)
    intercept = float(ym - slope * xm)
    resid = y - (intercept + slope * x)
    sst = float(((y - ym) ** 2).sum())
    r2 = 1.0 - float((resid ** 2).sum()) / sst if sst > 0 else 1.0
    eff = 10.0 ** (-1.0 / slope) - 1.0 if slope != 0 else math.nan
    return StandardCurve(target=target, slope=slope, intercept=intercept, r_squared=r2,
                         efficiency=eff, n_wells=len(y), n_levels=levels)


def resolve_references(names: Sequence[str] | None, targets: Sequence[str],
                        file: str | None) -> tuple[str, ...]:
    """The plate's target names of the reference genes (default RPL19, else L19).

    Raises
    ------
    InputError
        A named reference gene (or the default) is not on the plate.
    """
    lower = {t.lower(): t for t in targets}
    if not names:
        for alias in DEFAULT_REFERENCE_GENES:
            if alias.lower() in lower:
                return (lower[alias.lower()],)
        raise InputError(
            f"reference gene {' / '.join(DEFAULT_REFERENCE_GENES)} (the default) is not on "
            f"the plate; name one with --reference-gene (targets: {', '.join(targets)})",
            file=file, column="target")
    out, missing = [], []
    for n in names:
        if n.lower() in lower:
            out.append(lower[n.lower()])
        else:
            missing.append(n)
    if missing:
        raise InputError(
            f"reference gene {', '.join(missing)} is not on the plate "
            f"(targets: {', '.join(targets)})", file=file, column="target",
            value=missing[0])
    return tuple(dict.fromkeys(out))


def _mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    a = np.asarray(values, dtype=float)
    mean = float(a.mean())
    sd = float(a.std(ddof=1)) if len(a) > 1 else None
    return mean, sd


def quantify(
    plate: Plate | Iterable[Well],
    *,
    reference_genes: Sequence[str] | None = None,
    calibrator: str | None = None,
    efficiency_from_standards: bool = False,
    sd_threshold: float = DEFAULT_SD_THRESHOLD,
    undetermined: str = "error",
) -> Quantification:
    """Replicate statistics, ΔCq, ΔΔCq, efficiencies and RQ for one plate.

    Parameters
    ----------
    plate
        A :class:`Plate` (or its wells).
    reference_genes
        Reference (normaliser) targets, matched case-insensitively; default
        RPL19, else L19.
    calibrator
        Sample whose ΔCq is subtracted (ΔΔCq, RQ); without it both are ``None``.
    efficiency_from_standards
        Fit each target's efficiency on its standard wells and use the Pfaffl ratio.
    sd_threshold
        Flag replicate SDs above this (cycles).
    undetermined
        ``"error"`` (default): a sample x target whose every replicate is
        undetermined is an input error; ``"flag"``: report it with no values.

    Raises
    ------
    InputError
        Missing reference gene (on the plate or for a sample), all replicates
        undetermined, unknown calibrator (file, rows and field named).
    """
    if isinstance(plate, Plate):
        wells, file = plate.wells, plate.path
    else:
        wells, file = tuple(plate), None
    if undetermined not in ("error", "flag"):
        raise ValueError("undetermined must be 'error' or 'flag'")
    if not sd_threshold > 0:
        raise InputError("the replicate SD threshold must be > 0", value=sd_threshold)
    targets = tuple(dict.fromkeys(w.target for w in wells))
    refs = resolve_references(reference_genes, targets, file)

    # -- controls: an amplifying NTC / no-RT well is a flag, not an error
    well_flags: dict[int, list[str]] = {i: list(w.flags) for i, w in enumerate(wells)}
    contaminated: dict[str, list[str]] = {}
    for i, w in enumerate(wells):
        if w.task in ("ntc", "nrt", "negative") and w.cq is not None and not w.omitted:
            what = {"ntc": "no-template control", "nrt": "no-RT control",
                    "negative": "negative control"}[w.task]
            well_flags[i].append(f"{what} amplified (Cq {w.cq:g})")
            contaminated.setdefault(w.target, []).append(f"{w.well} ({w.cq:g})")

    # -- standard curves
    curves: dict[str, StandardCurve] = {}
    curve_notes: dict[str, str] = {}
    if efficiency_from_standards:
        by_target: dict[str, list[tuple[float, float]]] = {}
        problems = []
        for w in wells:
            if w.task != "standard" or w.omitted or w.cq is None:
                continue
            q = w.quantity if w.quantity is not None else quantity_from_name(w.sample)
            if q is None or not q > 0:
                problems.append(Problem(
                    f"standard well {w.well} ({w.target}) has no quantity > 0 in a quantity "
                    "column or its sample name", file, w.row, "quantity", w.sample))
                continue
            by_target.setdefault(w.target, []).append((q, w.cq))
        if problems:
            raise InputError(problems)
        for t in targets:
            pts = by_target.get(t, [])
            if len({p[0] for p in pts}) < 3:
                curve_notes[t] = (f"efficiency of {t} unknown: {len({p[0] for p in pts})} "
                                  "standard level(s) with a Cq, 3 needed")
                continue
            curve = fit_standard_curve(t, [p[0] for p in pts], [p[1] for p in pts])
            if not (curve.slope < 0 and math.isfinite(curve.efficiency)):
                curve_notes[t] = (f"efficiency of {t} unknown: standard-curve slope "
                                  f"{curve.slope:.3f} is not negative")
                continue
            curves[t] = curve

    # -- replicate groups
    order: list[str] = []
    groups: dict[tuple[str, str], list[Well]] = {}
    for w in wells:
        if w.task not in RESULT_TASKS:
            continue
        if w.sample not in order:
            order.append(w.sample)
        groups.setdefault((w.sample, w.target), []).append(w)
    if calibrator is not None and calibrator not in order:
        raise InputError(f"calibrator sample {calibrator!r} is not on the plate "
                         f"(samples: {', '.join(order)})", file=file, column="sample",
                         value=calibrator)

    problems = []
    stats: dict[tuple[str, str], tuple[float | None, float | None, int, int, list[Well]]] = {}
    for key, ws in groups.items():
        used = [w for w in ws if not w.omitted and w.cq is not None]
        n_und = sum(1 for w in ws if not w.omitted and w.cq is None)
        if not used:
            if undetermined == "error":
                problems.append(Problem(
                    f"sample {key[0]!r}, target {key[1]!r}: all replicates undetermined "
                    f"(wells {', '.join(w.well for w in ws)})", file, ws[0].row, "cq"))
            stats[key] = (None, None, 0, n_und, [])
            continue
        mean, sd = _mean_sd([w.cq for w in used])  # type: ignore[misc]
        stats[key] = (mean, sd, len(used), n_und, used)
    for s in order:
        for r in refs:
            if (s, r) not in groups:
                problems.append(Problem(
                    f"sample {s!r} has no well for reference gene {r!r}", file,
                    next(w.row for w in wells if w.sample == s), "target", r))
    if problems:
        raise InputError(problems)

    # -- ΔCq per sample x target
    def reference_level(s: str, used: list[Well]) -> dict[str, tuple[float | None, float | None]]:
        """Per reference gene: (mean, SD) over the target's own wells when every one of
        them carries the gene (multiplex), else over the gene's wells of the sample."""
        paired = bool(used)
        by_well = {}
        for r in refs:
            by_well[r] = {w.well: w.cq for w in stats[(s, r)][4]}
            if any(w.well not in by_well[r] for w in used):
                paired = False
        out: dict[str, tuple[float | None, float | None]] = {}
        for r in refs:
            if paired:
                out[r] = _mean_sd([by_well[r][w.well] for w in used])
            else:
                out[r] = (stats[(s, r)][0], stats[(s, r)][1])
        return out

    deltas: dict[tuple[str, str], tuple[float | None, float | None]] = {}
    gene_refs: dict[tuple[str, str], dict[str, tuple[float | None, float | None]]] = {}
    k = len(refs)
    for (s, t), (mean, sd, _n, _u, used) in stats.items():
        per_gene = reference_level(s, used) if mean is not None else {}
        gene_refs[(s, t)] = per_gene
        if mean is None or any(v[0] is None for v in per_gene.values()):
            deltas[(s, t)] = (None, None)
            continue
        ref_mean = sum(v[0] for v in per_gene.values()) / k  # type: ignore[misc]
        sds = [v[1] for v in per_gene.values()]
        ref_sd = (None if any(x is None for x in sds)
                  else math.sqrt(sum(x * x for x in sds)) / k)  # type: ignore[operator]
        d_sd = None if sd is None or ref_sd is None else math.sqrt(sd * sd + ref_sd * ref_sd)
        deltas[(s, t)] = (mean - ref_mean, d_sd)

    # -- ΔΔCq, RQ
    results = []
    ln2 = math.log(2.0)
    for s in order:
        for t in targets:
            if (s, t) not in stats:
                continue
            mean, sd, n, n_und, used = stats[(s, t)]
            dcq, dsd = deltas[(s, t)]
            flags: list[str] = []
            if n_und:
                flags.append(f"{n_und} of {n + n_und} replicates undetermined")
            if mean is None:
                flags.append("all replicates undetermined")
            if n == 1:
                flags.append("single replicate: no SD")
            if sd is not None and sd > sd_threshold:
                flags.append(f"replicate SD {sd:.3f} > {sd_threshold:g} cycles")
            if t in contaminated:
                flags.append(f"no-template/no-RT control amplified for {t}: "
                             + ", ".join(contaminated[t]))
            for r in refs:
                rs = stats[(s, r)]
                if r != t and rs[1] is not None and rs[1] > sd_threshold:
                    flags.append(f"reference {r} replicate SD {rs[1]:.3f} > {sd_threshold:g}")
            ddcq = None
            rq = None
            eff = curves[t].efficiency if t in curves else None
            if calibrator is not None and dcq is not None:
                cal = deltas.get((calibrator, t))
                if cal is None or cal[0] is None:
                    flags.append(f"calibrator {calibrator!r} has no ΔCq for {t}")
                else:
                    ddcq = dcq - cal[0]
                    genes = (t, *refs)
                    use_pfaffl = efficiency_from_standards and all(g in curves for g in genes)
                    if efficiency_from_standards and not use_pfaffl:
                        flags.extend(curve_notes[g] for g in genes if g in curve_notes)
                        flags.append("rq = 2^-ΔΔCq (efficiencies not all known)")
                    rq = _ratio(s, t, calibrator, refs, stats, gene_refs, curves,
                                use_pfaffl, ddcq, ln2)
            elif calibrator is None:
                pass
            results.append(QuantResult(
                sample=s, target=t, cq_mean=mean, cq_sd=sd, n_replicates=n,
                n_undetermined=n_und, delta_cq=dcq, delta_delta_cq=ddcq, efficiency=eff,
                rq=rq, delta_cq_sd=dsd, flags=tuple(flags)))

    calls = tuple(WellCall(w.well, w.sample, w.target, w.cq, tuple(well_flags[i]))
                  for i, w in enumerate(wells))
    return Quantification(wells=calls, results=tuple(results), reference_genes=refs,
                          calibrator=calibrator, standard_curves=curves,
                          sd_threshold=sd_threshold)


def _ratio(s, t, cal, refs, stats, gene_refs, curves, pfaffl, ddcq, ln2) -> Interval:
    """RQ with its ±1 SD range (Livak & Schmittgen 2001; Pfaffl 2001 with efficiencies).

    The reference Cqs are those ΔCq used (the target's own wells in a multiplex)."""
    k = len(refs)
    here, there = gene_refs[(s, t)], gene_refs[(cal, t)]
    if not pfaffl:
        amp = dict.fromkeys((t, *refs), ln2)
        ln_ratio = -ddcq * ln2
        method = RQ_INTERVAL_METHOD + "; rq = 2^-ΔΔCq"
    else:
        amp = {g: math.log1p(curves[g].efficiency) for g in (t, *refs)}
        ln_ratio = (stats[(cal, t)][0] - stats[(s, t)][0]) * amp[t]
        for r in refs:
            ln_ratio -= (there[r][0] - here[r][0]) * amp[r] / k
        method = RQ_INTERVAL_METHOD + "; rq = Pfaffl ratio with per-gene efficiency"
    est = math.exp(ln_ratio)
    sds = [stats[(s, t)][1]] + [here[r][1] for r in refs]
    weights = [amp[t]] + [amp[r] / k for r in refs]
    if t in refs and k == 1:
        sds, weights = [sds[0]], [weights[0]]
    if any(x is None for x in sds):
        return Interval(est, math.nan, math.nan, ONE_SD_LEVEL, method + " (no SD: n = 1)")
    s_ln = math.sqrt(sum((w * x) ** 2 for w, x in zip(weights, sds, strict=True)))
    return Interval(est, est * math.exp(-s_ln), est * math.exp(s_ln), ONE_SD_LEVEL, method)
