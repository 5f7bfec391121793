"""Cohort-level trial model: the arm effect on any marker, adjusted for baseline and age.

One function, :func:`fit_arm_effect`, takes a tidy table with one row per
participant (``participant, arm, baseline, followup, age`` and, for counts, an
``exposure`` such as cells seeded) and fits the analysis of Tewary et al. 2020
for the sitagliptin trial, generalised from CFU counts to any marker:

- counts (``family="poisson"`` or ``"negbin"``): a log-link GLM
  ``followup ~ arm + log(baseline + 0.5) + age`` with ``log(exposure)`` as
  offset (Poisson GLM, or NB2 negative binomial with ``alpha`` by maximum
  likelihood); the arm effect is the **rate ratio** ``exp(beta_arm)`` with Wald
  limits;
- continuous (``family="linear"``): ordinary least squares (ANCOVA)
  ``followup ~ arm + baseline + age``; the arm effect is the **difference**
  ``beta_arm`` (treated minus control) with Student-t limits.

Arm 1 is treated, arm 0 control. The result is a frozen :class:`ArmEffect`
whose ``effect`` is a :class:`decidua.stats.Interval`.

:func:`simulate_arm_trial` is the synthetic generator with known truth that the
tests use (documented in its docstring).

References
----------
Tewary S, Lucas ES, Fujihara R, et al. Impact of sitagliptin on endometrial
mesenchymal stem-like progenitor cells: a randomised, double-blind
placebo-controlled feasibility trial. EBioMedicine 2020;51:102597 (CFU counts
compared with adjustment for baseline CFU and age; rate ratio 1.52, 95 % CI
1.32-1.75: :data:`decidua.literature.TEWARY_2020_CFU_RATE_RATIO`).
Vickers AJ, Altman DG. Analysing controlled trials with baseline and follow up
measurements. BMJ 2001;323:1123-4 (ANCOVA for continuous outcomes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from decidua.errors import InputError, ModelError, Problem
from decidua.stats.intervals import Interval

#: Families :func:`fit_arm_effect` accepts.
FAMILIES = ("poisson", "negbin", "linear")
#: Count families (log link, rate-ratio effect).
COUNT_FAMILIES = ("poisson", "negbin")
#: Added to a baseline count before its log (a zero count stays finite).
BASELINE_LOG_SHIFT = 0.5


@dataclass(frozen=True)
class ArmEffect:
    """Arm effect (treated vs control) on a marker's follow-up value.

    Attributes
    ----------
    family
        ``"poisson"``, ``"negbin"`` or ``"linear"``.
    effect
        The arm effect as an :class:`~decidua.stats.Interval`: the rate ratio
        (counts) or the difference treated - control (linear).
    scale
        ``"rate ratio"`` or ``"difference"``.
    p_value
        Two-sided p-value of no arm effect (Wald z for counts, t for linear).
    model
        What was fitted, in words (family and formula).
    formula
        The model formula (patsy).
    n
        Participants analysed.
    coefficients
        All coefficients (``term, estimate, se, lower, upper, p``) on the
        linear-predictor scale (log scale for counts).
    dispersion
        Negative-binomial ``alpha``; residual variance for linear; ``None``
        for Poisson.
    pearson_dispersion
        Pearson chi-square / residual df for counts (about 1 if the model
        fits); ``None`` for linear.

    Examples
    --------
    >>> data = simulate_arm_trial(40, family="linear", effect=2.0, seed=1)
    >>> fit = fit_arm_effect(data, family="linear")
    >>> fit.scale, fit.n, fit.effect.level
    ('difference', 80, 0.95)
    """

    family: str
    effect: Interval
    scale: str
    p_value: float
    model: str
    formula: str
    n: int
    coefficients: pd.DataFrame
    dispersion: float | None
    pearson_dispersion: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict (JSON-ready) form.

        Examples
        --------
        >>> fit = fit_arm_effect(simulate_arm_trial(30, seed=2), family="poisson")
        >>> sorted(fit.to_dict())[:4]
        ['coefficients', 'dispersion', 'effect', 'family']
        """
        return {
            "family": self.family, "scale": self.scale, "effect": self.effect.to_dict(),
            "p_value": self.p_value, "model": self.model, "formula": self.formula, "n": self.n,
            "dispersion": self.dispersion, "pearson_dispersion": self.pearson_dispersion,
            "coefficients": self.coefficients.to_dict("records"),
        }


def fit_arm_effect(
    data: pd.DataFrame,
    family: str,
    *,
    confidence: float = 0.95,
    covariates: tuple[str, ...] = ("baseline", "age"),
    outcome: str = "followup",
    exposure: str | None = "exposure",
    file: str | None = None,
) -> ArmEffect:
    """Arm effect on follow-up values of a marker, adjusted for baseline and age.

    Parameters
    ----------
    data
        One row per participant: ``participant`` (optional; if present each
        must appear once), ``arm`` (0/1 or bool; 1 = treated), ``baseline``,
        the follow-up column named by ``outcome``, ``age`` (if adjusted for),
        any further covariate columns, and for counts optionally the exposure
        column (e.g. cells seeded; 1 for every row if absent).
    family
        ``"poisson"`` / ``"negbin"`` for counts (rate ratio), ``"linear"`` for
        a continuous marker (difference).
    confidence
        Level of the interval.
    covariates
        Adjustment terms. ``"baseline"`` is the baseline value (as
        ``log(baseline + 0.5)``, term ``log_baseline``, for counts); other
        names are columns of ``data`` entered as they are.
    outcome
        Name of the follow-up column.
    exposure
        Name of the exposure column (counts only); ``log(exposure)`` is the offset.
    file
        Source name used in error messages.

    Returns
    -------
    ArmEffect

    Raises
    ------
    InputError
        Unknown family, missing columns, or bad values (named by row and column).
    ModelError
        Too few participants, only one arm, or a fit that fails.

    Examples
    --------
    Counts, true rate ratio 1.5 (the generator's truth; ``latent_sd=0`` makes the
    Poisson GLM the true model):

    >>> counts = simulate_arm_trial(150, family="poisson", effect=1.5, latent_sd=0.0, seed=3)
    >>> fit = fit_arm_effect(counts, family="poisson")
    >>> fit.scale, fit.effect.contains(1.5), fit.coefficients["term"].tolist()
    ('rate ratio', True, ['Intercept', 'arm', 'log_baseline', 'age'])

    A continuous marker, true difference -1.0:

    >>> cont = simulate_arm_trial(150, family="linear", effect=-1.0, seed=3)
    >>> lin = fit_arm_effect(cont, family="linear")
    >>> lin.effect.contains(-1.0), lin.model
    (True, 'OLS (ANCOVA): followup ~ arm + baseline + age')
    """
    if family not in FAMILIES:
        raise InputError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}",
                         file=file)
    if not 0 < confidence < 1:
        raise InputError("confidence must be between 0 and 1", value=confidence)
    count = family in COUNT_FAMILIES
    df = _prepare(data, family, covariates, outcome, exposure if count else None, file)
    terms = [("log_baseline" if count else "baseline") if c in ("baseline", "log_baseline")
             else c for c in covariates]
    if len(df) < len(terms) + 3 or df["arm"].nunique() < 2:
        raise ModelError("too few participants (or only one arm) to fit the trial model")
    formula = f"{outcome} ~ arm" + "".join(f" + {t}" for t in terms)
    alpha_ci = 1.0 - confidence
    try:
        res, disp, pearson, model = _fit(df, family, formula, outcome)
    except (np.linalg.LinAlgError, ValueError) as exc:
        raise ModelError(f"trial model failed: {exc}") from None
    ci = res.conf_int(alpha_ci)
    names = [t for t in res.params.index if t != "alpha"]
    coef = pd.DataFrame({
        "term": names,
        "estimate": [float(res.params[t]) for t in names],
        "se": [float(res.bse[t]) for t in names],
        "lower": [float(ci.loc[t, 0]) for t in names],
        "upper": [float(ci.loc[t, 1]) for t in names],
        "p": [float(res.pvalues[t]) for t in names],
    })
    b, lo, hi = float(res.params["arm"]), float(ci.loc["arm", 0]), float(ci.loc["arm", 1])
    if count:
        effect = Interval(math.exp(b), math.exp(lo), math.exp(hi), confidence,
                          f"Wald, {family} GLM")
        scale = "rate ratio"
    else:
        effect = Interval(b, lo, hi, confidence, "Student t, OLS")
        scale = "difference"
    return ArmEffect(family, effect, scale, float(res.pvalues["arm"]), f"{model}: {formula}",
                     formula, len(df), coef, disp, pearson)


def _prepare(data: pd.DataFrame, family: str, covariates: tuple[str, ...], outcome: str,
             exposure: str | None, file: str | None) -> pd.DataFrame:
    """Check the tidy table; return the model frame (every bad cell reported at once)."""
    extra = [c for c in covariates if c not in ("baseline", "log_baseline")]
    need = ["arm", "baseline", outcome, *extra]
    missing = [c for c in need if c not in data.columns]
    if missing:
        raise InputError(f"trial table lacks column(s): {', '.join(missing)}", file=file)
    for name in (outcome, *extra):
        if not name.isidentifier():
            raise InputError(f"column name {name!r} is not usable in a model formula",
                             file=file, column=name)
    count = family in COUNT_FAMILIES
    problems: list[Problem] = []
    out = pd.DataFrame(index=data.index)
    numeric = ["baseline", outcome, *extra] + ([exposure] if exposure in data.columns else [])
    for col in numeric:
        vals = pd.to_numeric(data[col], errors="coerce")
        for i, (raw, v) in enumerate(zip(data[col], vals, strict=True)):
            if not np.isfinite(v):
                problems.append(Problem("not a number", file, i + 1, col, raw))
            elif count and col in ("baseline", outcome) and (v < 0 or not float(v).is_integer()):
                problems.append(Problem("count must be a whole number >= 0", file, i + 1, col, raw))
            elif col == exposure and v <= 0:
                problems.append(Problem("exposure must be > 0", file, i + 1, col, raw))
        out[col] = vals.astype(float)
    arms = []
    for i, raw in enumerate(data["arm"]):
        v = int(raw) if isinstance(raw, bool | np.bool_) else raw
        try:
            ok = float(v) in (0.0, 1.0)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(Problem("arm must be 0 (control) or 1 (treated)", file, i + 1, "arm",
                                    raw))
            arms.append(0)
        else:
            arms.append(int(float(v)))
    out["arm"] = arms
    if "participant" in data.columns:
        seen: dict[Any, int] = {}
        for i, p in enumerate(data["participant"]):
            if p in seen:
                problems.append(Problem(f"participant also on row {seen[p]}", file, i + 1,
                                        "participant", p))
            else:
                seen[p] = i + 1
    if problems:
        raise InputError(problems)
    if count:
        out[outcome] = out[outcome].astype(np.int64)
        out["log_baseline"] = np.log(out["baseline"] + BASELINE_LOG_SHIFT)
        out["log_exposure"] = (np.log(out[exposure]) if exposure in data.columns
                               else 0.0)
    return out.reset_index(drop=True)


def _fit(df: pd.DataFrame, family: str, formula: str,
         outcome: str) -> tuple[Any, float | None, float | None, str]:
    """Fit the model; return (result, dispersion, Pearson dispersion, model name)."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    if family == "linear":
        res = smf.ols(formula, df).fit()
        return res, float(res.scale), None, "OLS (ANCOVA)"
    offset = df["log_exposure"]
    if family == "poisson":
        res = smf.glm(formula, df, family=sm.families.Poisson(), offset=offset).fit()
        return res, None, float(res.pearson_chi2 / res.df_resid), "Poisson GLM, log link"
    res = smf.negativebinomial(formula, df, offset=offset).fit(disp=0, maxiter=200,
                                                               method="bfgs")
    if not res.mle_retvals.get("converged", True):
        raise ModelError("negative-binomial fit did not converge")
    alpha = float(res.params["alpha"])
    mu = res.predict(df, offset=offset)
    var = mu + alpha * mu**2
    pearson = float(((df[outcome] - mu) ** 2 / var).sum() / (len(df) - len(res.params)))
    return res, alpha, pearson, "negative binomial (NB2) GLM, log link"


def simulate_arm_trial(
    n_per_arm: int = 17,
    *,
    family: str = "poisson",
    effect: float = 1.52,
    dispersion: float = 0.0,
    baseline_mean: float = 10.0,
    age_effect_per_year: float = -0.02,
    residual_sd: float = 1.0,
    latent_sd: float = 0.8,
    exposure: float = 5000.0,
    seed: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Synthetic two-arm trial with baseline and follow-up values and a known arm effect.

    Ages are uniform on 24-42 years (rounded). Counts (``family`` poisson or
    negbin): a latent log-rate ``u ~ N(log(baseline_mean), latent_sd)``, baseline
    ``B ~ NB(exp(u), alpha)``, follow-up ``F ~ NB(exp(u + b_age (age - 35)) *
    effect**arm, alpha)`` with ``alpha = dispersion`` (0 = Poisson), the CFU
    trial generator of :mod:`decidua.assays.clonogenicity.synthetic`; the
    exposure is the same on every row, so the true rate ratio is ``effect``.
    Continuous (``linear``): ``baseline ~ N(baseline_mean, 2)``, ``followup =
    0.5 baseline + b_age (age - 35) + effect * arm + N(0, residual_sd)``, so
    the true ANCOVA difference is ``effect``.

    With ``latent_sd > 0`` the baseline count measures each woman's rate with
    Poisson noise, so follow-up counts given the baseline are overdispersed
    even when ``dispersion = 0``: a Poisson GLM is then misspecified and its
    intervals too narrow (the negative binomial allows for it). With
    ``latent_sd = 0`` the Poisson GLM is the true model.

    Returns
    -------
    DataFrame
        ``participant, arm, age, exposure, baseline, followup``.

    Examples
    --------
    >>> d = simulate_arm_trial(5, family="linear", effect=1.0, seed=0)
    >>> d.shape, d.columns.tolist()
    ((10, 6), ['participant', 'arm', 'age', 'exposure', 'baseline', 'followup'])
    """
    if family not in FAMILIES:
        raise InputError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n = 2 * n_per_arm
    arm = np.repeat([0, 1], n_per_arm)
    age = rng.uniform(24, 42, n).round()
    if family in COUNT_FAMILIES:
        u = rng.normal(np.log(baseline_mean), latent_sd, n)

        def nb(mean: np.ndarray) -> np.ndarray:
            if dispersion <= 0:
                return rng.poisson(mean)
            return rng.poisson(rng.gamma(1.0 / dispersion, mean * dispersion))

        base = nb(np.exp(u)).astype(float)
        follow = nb(np.exp(u + age_effect_per_year * (age - 35.0)) * effect**arm).astype(float)
    else:
        base = rng.normal(baseline_mean, 2.0, n)
        follow = (0.5 * base + age_effect_per_year * (age - 35.0) + effect * arm
                  + rng.normal(0.0, residual_sd, n))
    return pd.DataFrame({
        "participant": [f"P{i:03d}" for i in range(n)], "arm": arm, "age": age,
        "exposure": float(exposure), "baseline": base, "followup": follow,
    })
