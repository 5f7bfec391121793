"""CFU statistics: CFU %, exact Poisson intervals, pooling, before/after and trial GLMs.

Colony counts are counts: a plate seeded with ``n`` cells gives ``X`` colonies,
``X ~ Poisson(n * p)`` under pure sampling, with ``p`` the clonogenic
fraction (CFU % = 100 p). Biological replicate plates are overdispersed, so
the trial model offers a negative binomial as well as a Poisson GLM.

References
----------
Garwood F. Fiducial limits for the Poisson distribution. Biometrika 1936;
28:437-442 (exact interval via chi-square / gamma quantiles).
Clopper CJ, Pearson ES. Biometrika 1934;26:404-413 (exact binomial interval,
used conditionally for the ratio of two Poisson rates).
Tewary S, Lucas ES, Fujihara R, et al. Impact of sitagliptin on endometrial
mesenchymal stem-like progenitor cells: a randomised, double-blind
placebo-controlled feasibility trial. EBioMedicine 2020;51:102597 (CFU counts
after treatment compared with adjustment for baseline CFU and age: rate
ratio 1.52, 95 % CI 1.32-1.75).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from decidua.errors import InputError, ModelError, Problem
from decidua.stats.intervals import Interval

#: Columns of a manual / image count table.
COUNT_COLUMNS = ("biopsy_id", "plate", "well", "cells_seeded", "colonies")
#: Optional columns of the lab's manual-count sheet.
OPTIONAL_COLUMNS = ("count_date", "batch")


@dataclass(frozen=True)
class CFUEstimate:
    """CFU % with an exact Poisson confidence interval.

    Attributes
    ----------
    colonies
        Total colonies counted.
    cells_seeded
        Total cells seeded.
    cfu_pct
        ``100 * colonies / cells_seeded``.
    lower_pct, upper_pct
        Exact (Garwood) Poisson confidence limits of the CFU %.
    confidence
        Confidence level (0-1).
    n_plates
        Number of plates / wells pooled.
    """

    colonies: int
    cells_seeded: int
    cfu_pct: float
    lower_pct: float
    upper_pct: float
    confidence: float = 0.95
    n_plates: int = 1

    @property
    def interval(self) -> Interval:
        """The CFU % with its exact Poisson limits as a :class:`~decidua.stats.Interval`."""
        return Interval(self.cfu_pct, self.lower_pct, self.upper_pct, self.confidence,
                        "exact Poisson (Garwood)")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return asdict(self)


@dataclass(frozen=True)
class RateRatio:
    """Ratio of two colony-forming rates (after / before) with an exact CI.

    Attributes
    ----------
    ratio
        ``(colonies_after / cells_after) / (colonies_before / cells_before)``.
    lower, upper
        Exact conditional (binomial) confidence limits.
    p_value
        Exact two-sided test of ratio = 1.
    before, after
        The two CFU estimates.
    confidence
        Confidence level.
    """

    ratio: float
    lower: float
    upper: float
    p_value: float
    before: CFUEstimate
    after: CFUEstimate
    confidence: float = 0.95

    @property
    def interval(self) -> Interval:
        """The rate ratio with its exact limits as a :class:`~decidua.stats.Interval`."""
        return Interval(self.ratio, self.lower, self.upper, self.confidence,
                        "exact conditional binomial (Clopper-Pearson)")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return {
            "ratio": self.ratio, "lower": self.lower, "upper": self.upper,
            "p_value": self.p_value, "confidence": self.confidence,
            "before": self.before.to_dict(), "after": self.after.to_dict(),
        }


@dataclass(frozen=True)
class TrialFit:
    """Treatment effect on follow-up CFU counts from a count GLM.

    Attributes
    ----------
    family
        ``"poisson"`` or ``"negbin"``.
    rate_ratio, lower, upper
        ``exp`` of the treatment coefficient and its Wald confidence limits.
    p_value
        Wald p-value of the treatment coefficient.
    coefficients
        Table of all coefficients (``term, estimate, se, lower, upper, p``),
        on the log scale.
    dispersion
        Negative-binomial ``alpha`` (``None`` for Poisson).
    pearson_dispersion
        Pearson chi-square / residual df (about 1 if the model fits; much
        more than 1 for a Poisson model means overdispersion).
    n
        Women analysed.
    formula
        Model formula (statsmodels / patsy).
    """

    family: str
    rate_ratio: float
    lower: float
    upper: float
    p_value: float
    coefficients: pd.DataFrame
    dispersion: float | None
    pearson_dispersion: float
    n: int
    formula: str
    confidence: float = 0.95

    @property
    def interval(self) -> Interval:
        """The treatment rate ratio with its Wald limits as a :class:`~decidua.stats.Interval`."""
        return Interval(self.rate_ratio, self.lower, self.upper, self.confidence,
                        f"Wald, {self.family} GLM")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return {
            "family": self.family, "rate_ratio": self.rate_ratio, "lower": self.lower,
            "upper": self.upper, "p_value": self.p_value, "dispersion": self.dispersion,
            "pearson_dispersion": self.pearson_dispersion, "n": self.n,
            "formula": self.formula,
            "coefficients": self.coefficients.to_dict(orient="records"),
        }

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table."""
        return self.coefficients.copy()


def poisson_interval(count: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood 1936) confidence interval of a Poisson mean.

    ``lower = Gamma^-1(a/2; k)``, ``upper = Gamma^-1(1 - a/2; k + 1)``,
    with ``lower = 0`` when ``k = 0``.

    Examples
    --------
    >>> [round(v, 3) for v in poisson_interval(12)]
    [6.201, 20.962]
    >>> poisson_interval(0)[0]
    0.0
    """
    if count < 0:
        raise InputError("count must be >= 0", value=count)
    a = 1.0 - confidence
    lo = 0.0 if count == 0 else float(stats.gamma.ppf(a / 2, count))
    hi = float(stats.gamma.ppf(1 - a / 2, count + 1))
    return lo, hi


def cfu_percent(colonies: int, cells_seeded: int, confidence: float = 0.95,
                n_plates: int = 1) -> CFUEstimate:
    """CFU % = colonies / cells seeded x 100, with an exact Poisson interval.

    Raises
    ------
    InputError
        If ``cells_seeded <= 0`` or ``colonies < 0``.

    Examples
    --------
    >>> est = cfu_percent(12, 1000)
    >>> round(est.cfu_pct, 2), round(est.lower_pct, 3), round(est.upper_pct, 3)
    (1.2, 0.62, 2.096)
    >>> est.interval.method
    'exact Poisson (Garwood)'
    """
    if cells_seeded <= 0:
        raise InputError("cells seeded must be > 0", column="cells_seeded", value=cells_seeded)
    if colonies < 0:
        raise InputError("colonies must be >= 0", column="colonies", value=colonies)
    if not 0 < confidence < 1:
        raise InputError("confidence must be between 0 and 1", value=confidence)
    lo, hi = poisson_interval(int(colonies), confidence)
    scale = 100.0 / cells_seeded
    return CFUEstimate(int(colonies), int(cells_seeded), colonies * scale, lo * scale, hi * scale,
                       confidence, int(n_plates))


def pool_counts(counts: pd.DataFrame, by: str | list[str] = "biopsy_id",
                confidence: float = 0.95) -> pd.DataFrame:
    """Pool replicate wells / plates and give CFU % with exact intervals.

    Pooling sums colonies and cells seeded (the maximum-likelihood CFU
    fraction under a common Poisson rate). A Pearson dispersion statistic
    over the replicates (``dispersion``; ~1 if replicates agree within
    Poisson noise, NaN for a single plate) flags overdispersion.

    Returns
    -------
    DataFrame
        One row per group: group keys, ``n_plates, colonies, cells_seeded,
        cfu_pct, lower_pct, upper_pct, dispersion``.

    Examples
    --------
    >>> import pandas as pd
    >>> counts = pd.DataFrame({"biopsy_id": ["B1", "B1", "B2"], "plate": ["P1", "P2", "P1"],
    ...                        "well": ["A1", "A1", "A1"], "cells_seeded": [1000, 1000, 1000],
    ...                        "colonies": [10, 14, 3]})
    >>> pooled = pool_counts(counts)
    >>> pooled.round(3)[["biopsy_id", "n_plates", "colonies", "cfu_pct"]].to_dict("records")[0]
    {'biopsy_id': 'B1', 'n_plates': 2, 'colonies': 24, 'cfu_pct': 1.2}
    """
    df = validate_counts(counts)
    keys = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, g in df.groupby(keys, sort=True):
        key_t = key if isinstance(key, tuple) else (key,)
        est = cfu_percent(int(g["colonies"].sum()), int(g["cells_seeded"].sum()), confidence,
                          len(g))
        if len(g) > 1:
            expected = g["cells_seeded"] * (est.colonies / est.cells_seeded)
            with np.errstate(divide="ignore", invalid="ignore"):
                chi2 = float(np.nansum((g["colonies"] - expected) ** 2 / expected))
            disp = chi2 / (len(g) - 1) if est.colonies > 0 else float("nan")
        else:
            disp = float("nan")
        row = dict(zip(keys, key_t, strict=True))
        row.update({k: v for k, v in est.to_dict().items() if k != "confidence"})
        row["dispersion"] = disp
        rows.append(row)
    cols = keys + ["n_plates", "colonies", "cells_seeded", "cfu_pct", "lower_pct", "upper_pct",
                   "dispersion"]
    return pd.DataFrame(rows)[cols]


def compare_rates(before_colonies: int, before_cells: int, after_colonies: int,
                  after_cells: int, confidence: float = 0.95) -> RateRatio:
    """Before/after CFU rate ratio for one woman, with an exact CI.

    Conditional on the total ``n = X_b + X_a``, ``X_a ~ Binomial(n, pi)``
    with ``pi = R t_a / (R t_a + t_b)`` (``t`` = cells seeded). The
    Clopper-Pearson limits of ``pi`` map to limits of ``R``; the p-value is
    the exact binomial test of ``R = 1``.

    Examples
    --------
    >>> rr = compare_rates(10, 1000, 20, 1000)
    >>> rr.ratio, round(rr.lower, 3), round(rr.upper, 3), round(rr.p_value, 3)
    (2.0, 0.894, 4.785, 0.099)
    >>> rr.interval.contains(1.0)
    True
    """
    b = cfu_percent(before_colonies, before_cells, confidence)
    a = cfu_percent(after_colonies, after_cells, confidence)
    n = b.colonies + a.colonies
    if n == 0:
        raise ModelError("no colonies before or after: the rate ratio is undefined")
    ta, tb = float(after_cells), float(before_cells)
    alpha = 1.0 - confidence
    k = a.colonies
    p_lo = 0.0 if k == 0 else float(stats.beta.ppf(alpha / 2, k, n - k + 1))
    p_hi = 1.0 if k == n else float(stats.beta.ppf(1 - alpha / 2, k + 1, n - k))

    def to_ratio(p: float) -> float:
        if p >= 1.0:
            return math.inf
        return p / (1 - p) * tb / ta

    ratio = (a.colonies / ta) / (b.colonies / tb) if b.colonies > 0 else math.inf
    p0 = ta / (ta + tb)
    pval = float(stats.binomtest(k, n, p0).pvalue)
    return RateRatio(ratio, to_ratio(p_lo), to_ratio(p_hi), pval, b, a, confidence)


def fit_trial(
    data: pd.DataFrame,
    *,
    family: str = "negbin",
    confidence: float = 0.95,
    covariates: tuple[str, ...] = ("log_baseline", "age"),
) -> TrialFit:
    """Treatment effect on follow-up CFU counts, adjusted for baseline and age.

    The CFU case of :func:`decidua.stats.trial.fit_arm_effect` (which fits
    the same model for any marker). Model:
    ``followup_colonies ~ arm + log(baseline_colonies + 0.5) + age``
    with ``log(cells_seeded)`` as offset, Poisson or negative-binomial (NB2,
    ``alpha`` by maximum likelihood, ``statsmodels`` discrete
    ``NegativeBinomial``). ``exp(beta_arm)`` is the rate ratio, the form of
    the published sitagliptin analysis (Tewary et al. 2020: RR 1.52,
    1.32-1.75, adjusted for baseline CFU and age).

    Parameters
    ----------
    data
        One row per woman: ``arm`` (0/1 or bool; 1 = treated), ``age``,
        ``baseline_colonies``, ``followup_colonies`` and optionally
        ``cells_seeded`` (same seeding assumed if absent).
    family
        ``"poisson"`` or ``"negbin"``.
    confidence
        Confidence level of the Wald intervals.
    covariates
        Adjustment terms; ``log_baseline`` is ``log(baseline_colonies + 0.5)``.

    Returns
    -------
    TrialFit

    Raises
    ------
    InputError
        Missing columns or bad values.
    ModelError
        Too few women or no convergence.

    Examples
    --------
    >>> from decidua.assays.clonogenicity.synthetic import simulate_trial
    >>> trial = simulate_trial(60, rate_ratio=1.5, seed=2)
    >>> fit = fit_trial(trial.data)
    >>> fit.family, fit.interval.contains(1.5), fit.lower < fit.rate_ratio < fit.upper
    ('negbin', True, True)
    """
    from decidua.stats.trial import fit_arm_effect

    need = {"arm", "baseline_colonies", "followup_colonies"} | (
        {"age"} if "age" in covariates else set()
    )
    missing = sorted(need - set(data.columns))
    if missing:
        raise InputError(f"trial table lacks column(s): {', '.join(missing)}")
    if family not in ("poisson", "negbin"):
        raise InputError(f"family must be 'poisson' or 'negbin', not {family!r}")
    if "cells_seeded" in data and (data["cells_seeded"] <= 0).any():
        raise InputError("cells seeded must be > 0", column="cells_seeded")
    if (data[["baseline_colonies", "followup_colonies"]] < 0).any().any():
        raise InputError("colony counts must be >= 0")
    tidy = data.rename(columns={"baseline_colonies": "baseline", "cells_seeded": "exposure"})
    tidy = tidy.drop(columns=[c for c in ("participant",) if c in tidy])
    fit = fit_arm_effect(tidy, family, confidence=confidence, outcome="followup_colonies",
                         exposure="exposure",
                         covariates=tuple("baseline" if c == "log_baseline" else c
                                          for c in covariates))
    pearson = fit.pearson_dispersion if fit.pearson_dispersion is not None else float("nan")
    return TrialFit(family, fit.effect.estimate, fit.effect.low, fit.effect.high, fit.p_value,
                    fit.coefficients, fit.dispersion, pearson, fit.n, fit.formula, confidence)


def validate_counts(df: pd.DataFrame, *, file: str | None = None,
                    row_offset: int = 1) -> pd.DataFrame:
    """Check a count table and return it with integer count columns.

    Every bad cell is reported at once (:class:`InputError` with file, 1-based
    data row, column and value): missing columns, empty ids, cells seeded not
    a positive integer, colonies not a non-negative integer, colonies more
    than cells seeded.

    Examples
    --------
    >>> import pandas as pd
    >>> bad = pd.DataFrame({"biopsy_id": ["B1", ""], "plate": ["P1", "P1"], "well": ["A1", "A2"],
    ...                     "cells_seeded": [1000, 0], "colonies": [3, 2.5]})
    >>> try:
    ...     validate_counts(bad, file="counts.csv")
    ... except InputError as exc:
    ...     print(len(exc.problems), sorted({p.column for p in exc.problems}))
    3 ['biopsy_id', 'cells_seeded', 'colonies']
    """
    missing = [c for c in COUNT_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s): {', '.join(missing)}", file=file)
    problems: list[Problem] = []
    out = df.copy()
    ints: dict[str, list[int | None]] = {"cells_seeded": [], "colonies": []}
    for i, rec in enumerate(df.itertuples(index=False)):
        row = i + row_offset
        rd = rec._asdict()
        for col in ("biopsy_id", "plate", "well"):
            v = rd[col]
            if v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == "":
                problems.append(Problem("value is empty", file, row, col, None))
        for col, lo in (("cells_seeded", 1), ("colonies", 0)):
            v = rd[col]
            iv = _as_int(v)
            if iv is None:
                problems.append(Problem("not a whole number", file, row, col, v))
            elif iv < lo:
                what = "cells seeded must be > 0" if col == "cells_seeded" else \
                    "colonies must be >= 0"
                problems.append(Problem(what, file, row, col, v))
                iv = None
            ints[col].append(iv)
        c, n = ints["colonies"][-1], ints["cells_seeded"][-1]
        if c is not None and n is not None and c > n:
            problems.append(Problem("more colonies than cells seeded", file, row, "colonies", c))
    if problems:
        raise InputError(problems)
    out["cells_seeded"] = np.asarray(ints["cells_seeded"], dtype=np.int64)
    out["colonies"] = np.asarray(ints["colonies"], dtype=np.int64)
    for col in ("biopsy_id", "plate", "well"):
        out[col] = out[col].astype(str).str.strip()
    return out


def _as_int(v: Any) -> int | None:
    """Integer value of ``v`` if it is a whole number, else ``None``."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return int(v) if math.isfinite(v) and float(v).is_integer() else None
    s = str(v).strip()
    try:
        f = float(s)
    except ValueError:
        return None
    return int(f) if math.isfinite(f) and f.is_integer() else None


def plot_cfu(pooled: pd.DataFrame, *, label: str = "biopsy_id") -> Any:
    """Forest plot of CFU % with exact intervals, one row per group.

    Parameters
    ----------
    pooled
        Output of :func:`pool_counts`.
    label
        Column used for the row labels.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import pandas as pd
    >>> counts = pd.DataFrame({"biopsy_id": ["B1", "B2"], "plate": ["P1", "P1"],
    ...                        "well": ["A1", "A1"], "cells_seeded": [1000, 1000],
    ...                        "colonies": [10, 3]})
    >>> fig = plot_cfu(pool_counts(counts))
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['B1', 'B2']
    """
    from matplotlib.figure import Figure

    n = len(pooled)
    fig = Figure(figsize=(6.0, 1.0 + 0.35 * max(n, 1)))
    ax = fig.add_subplot(1, 1, 1)
    y = np.arange(n)[::-1]
    est = pooled["cfu_pct"].to_numpy(dtype=float)
    err = np.vstack([est - pooled["lower_pct"].to_numpy(dtype=float),
                     pooled["upper_pct"].to_numpy(dtype=float) - est])
    ax.errorbar(est, y, xerr=err, fmt="o", color="tab:purple", capsize=3)
    ax.set_yticks(y)
    ax.set_yticklabels([str(v) for v in pooled[label]])
    ax.set_xlabel("CFU % (exact Poisson interval)")
    ax.set_xlim(left=0)
    fig.tight_layout()
    return fig
