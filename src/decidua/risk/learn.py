"""Learning from a clinic's own data: biopsy-call accuracy and the theta distribution.

A clinic that biopsies women before a pregnancy and records the next-pregnancy outcome can
re-estimate what the population targets cannot inform: the sensitivity and specificity of
its normal/abnormal call and the Beta distribution of the defective-cycle frequency theta.

:func:`fit_clinic_data` maximises the marginal likelihood (theta and the embryonic frailty
z integrated out on the model's joint grid, as the predictor does) of each woman's biopsy
calls and next-pregnancy outcome *given her obstetric history* (conditioning on the history
keeps the estimate valid in a clinic that recruits
women because of their losses). The age curve and ``q_defective`` stay at their calibrated
values. Standard errors come from the numerical Hessian (statsmodels) on the transformed
scale, mapped back by the delta method.

:func:`simulate_cohort` draws synthetic cohorts from known parameters (the documented
generator used by the parameter-recovery test).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special
from statsmodels.tools.numdiff import approx_hess3

from decidua.errors import InputError, ModelError
from decidua.risk.model import MAX_AGE, MIN_AGE, RiskModel, RiskParams, beta_grid_weights

#: Columns a clinic cohort must have.
COHORT_COLUMNS = ("age", "n_losses", "n_live_births", "n_biopsy_abnormal", "n_biopsy_normal",
                  "next_loss")


@dataclass(frozen=True)
class ClinicFit:
    """Maximum-marginal-likelihood estimates from a clinic cohort.

    Attributes
    ----------
    sensitivity, specificity
        Accuracy of the clinic's abnormal call for a defective cycle.
    theta_mean, theta_concentration
        Beta distribution of theta in the clinic's population (before conditioning on
        history; the model conditions on each woman's history itself).
    se
        Standard errors of the four estimates (NaN if the Hessian was not usable).
    log_likelihood
        Maximised conditional log marginal likelihood.
    n_women
        Cohort size.
    converged
        Optimiser's success flag.
    base_params
        Parameters the fit started from (age curve and q_defective kept).

    Examples
    --------
    >>> from decidua.risk.model import shipped_params
    >>> df = simulate_cohort(shipped_params(), 30, sensitivity=0.8, specificity=0.8, seed=1)
    >>> fit = fit_clinic_data(df)  # doctest: +SKIP
    >>> fit.updated_params().model_version  # doctest: +SKIP
    '2026.12-4'
    """

    sensitivity: float
    specificity: float
    theta_mean: float
    theta_concentration: float
    se: dict[str, float]
    log_likelihood: float
    n_women: int
    converged: bool
    base_params: RiskParams

    def to_dict(self) -> dict[str, Any]:
        return {"sensitivity": self.sensitivity, "specificity": self.specificity,
                "theta_mean": self.theta_mean, "theta_concentration": self.theta_concentration,
                "se": dict(self.se), "log_likelihood": self.log_likelihood,
                "n_women": self.n_women, "converged": self.converged}

    def updated_params(self, model_version: str | None = None) -> RiskParams:
        """Parameters with the clinic's estimates: sens/spec priors become Beta
        distributions moment-matched to estimate and standard error."""

        def beta_from(mean: float, se: float) -> tuple[float, float]:
            var = se**2 if np.isfinite(se) and se > 0 else mean * (1 - mean) / 50.0
            k = max(mean * (1 - mean) / var - 1.0, 2.0)
            return (mean * k, (1 - mean) * k)

        version = model_version or f"{self.base_params.model_version}+clinic"
        return replace(
            self.base_params,
            model_version=version,
            sens_prior=beta_from(self.sensitivity, self.se.get("sensitivity", np.nan)),
            spec_prior=beta_from(self.specificity, self.se.get("specificity", np.nan)),
            theta_mean=self.theta_mean,
            theta_concentration=self.theta_concentration,
            notes=(self.base_params.notes + " Sens/spec and theta distribution re-estimated "
                   f"from a clinic cohort of {self.n_women} women.").strip(),
        )


def _validate_cohort(cohort: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in COHORT_COLUMNS if c not in cohort.columns]
    if missing:
        raise InputError(f"clinic cohort lacks column(s): {', '.join(missing)}")
    df = cohort.loc[:, list(COHORT_COLUMNS)].copy()
    problems = []
    age = pd.to_numeric(df["age"], errors="coerce")
    bad = ~age.between(MIN_AGE, MAX_AGE)
    for i in np.flatnonzero(bad.to_numpy())[:20]:
        problems.append(InputError(f"age must be between {MIN_AGE:g} and {MAX_AGE:g}",
                                   row=int(i) + 1, column="age",
                                   value=df["age"].iloc[i]).problems[0])
    for col in COHORT_COLUMNS[1:]:
        v = pd.to_numeric(df[col], errors="coerce")
        bad = v.isna() | (v < 0) | (v != np.floor(v))
        if col == "next_loss":
            bad |= v > 1
        for i in np.flatnonzero(bad.to_numpy())[:20]:
            problems.append(InputError("must be a whole number >= 0"
                                       + (" (0 or 1)" if col == "next_loss" else ""),
                                       row=int(i) + 1, column=col,
                                       value=df[col].iloc[i]).problems[0])
    if problems:
        raise InputError(problems)
    if len(df) < 20:
        raise ModelError(f"a clinic cohort needs at least 20 women to fit (got {len(df)})")
    df["age"] = age.astype(float)
    for col in COHORT_COLUMNS[1:]:
        df[col] = df[col].astype(np.int64)
    return df


def fit_clinic_data(cohort: pd.DataFrame, params: RiskParams | None = None) -> ClinicFit:
    """Re-estimate biopsy-call accuracy and the theta distribution from clinic data.

    Parameters
    ----------
    cohort
        One row per woman with columns :data:`COHORT_COLUMNS`: ``age`` (years),
        ``n_losses`` and ``n_live_births`` before the biopsies, ``n_biopsy_abnormal`` and
        ``n_biopsy_normal`` (untreated pre-pregnancy biopsies from different cycles) and
        ``next_loss`` (1 if the next pregnancy was lost, 0 if it reached a live birth).
        Optional ``n_losses_earlier`` / ``n_live_births_earlier``: outcomes before the last
        run of identical outcomes, weighted as the predictor weights them.
    params
        Base parameters (age curve, ``q_defective``, grid, starting values); default the
        shipped calibration.

    Returns
    -------
    ClinicFit

    Raises
    ------
    InputError
        Missing columns or invalid values (all listed with their rows).
    ModelError
        Too few women.

    Examples
    --------
    >>> from decidua.risk.model import shipped_params
    >>> df = simulate_cohort(shipped_params(), 30, sensitivity=0.8, specificity=0.8, seed=1)
    >>> fit = fit_clinic_data(df)  # doctest: +SKIP
    >>> 0 < fit.sensitivity < 1  # doctest: +SKIP
    True
    """
    df = _validate_cohort(cohort)
    base = params if params is not None else RiskModel().params
    model = RiskModel(base, draws=())
    theta = model.theta
    # The joint (frailty z, theta) grid, as the predictor uses it (model v2): the embryonic
    # risk of each woman at each frailty node, so that her history informs z as well as
    # theta. Ignoring z (model 2026.12-1's learn) attributed every excess loss to theta.
    e = model.embryonic_by_frailty(df["age"].to_numpy())  # (n, K)
    tq = theta * base.q_defective
    pi = e[:, :, None] + (1 - e)[:, :, None] * tq[None, None, :]  # (n, K, G)
    n_l = df["n_losses"].to_numpy(dtype=float)
    n_b = df["n_live_births"].to_numpy(dtype=float)
    w_early = float(base.earlier_outcome_weight)
    if "n_losses_earlier" in cohort.columns:
        n_l = n_l + w_early * pd.to_numeric(cohort["n_losses_earlier"]).to_numpy(dtype=float)
    if "n_live_births_earlier" in cohort.columns:
        n_b = n_b + w_early * pd.to_numeric(cohort["n_live_births_earlier"]).to_numpy(
            dtype=float)
    log_h = n_l[:, None, None] * np.log(pi) + n_b[:, None, None] * np.log1p(-pi)
    # Work in probability space with each row scaled by its maximum (the scale cancels in
    # the ratio below); z is summed out once, so each evaluation is a few n x grid products.
    log_h -= log_h.max(axis=(1, 2), keepdims=True)
    hist3 = np.exp(log_h)
    y = df["next_loss"].to_numpy()[:, None, None]
    zw = model.z_weights[None, :, None]
    hist = (hist3 * zw).sum(axis=1)  # (n, G)
    hist_y = (hist3 * np.where(y == 1, pi, 1.0 - pi) * zw).sum(axis=1)
    n_abn = df["n_biopsy_abnormal"].to_numpy()[:, None].astype(float)
    n_norm = df["n_biopsy_normal"].to_numpy()[:, None].astype(float)
    if {"n_biopsy_abnormal_clinic", "n_biopsy_normal_clinic"} <= set(cohort.columns):
        # Typed clinic calls: their accuracy stays at its prior (clinic_sens_prior /
        # clinic_spec_prior, integrated out); only the computed call's accuracy is fitted.
        ka = pd.to_numeric(cohort["n_biopsy_abnormal_clinic"]).to_numpy(dtype=np.int64)
        kn = pd.to_numeric(cohort["n_biopsy_normal_clinic"]).to_numpy(dtype=np.int64)
        pairs, inv = np.unique(np.stack([ka, kn], axis=1), axis=0, return_inverse=True)
        table = np.stack([model._source_loglik("clinic", a, b) for a, b in pairs])
        ll = table[inv.reshape(-1)]
        hist_y = hist_y * np.exp(ll - ll.max(axis=1, keepdims=True))

    def negll(x: np.ndarray) -> float:
        s, c, mu = special.expit(x[:3])
        kappa = np.exp(x[3])
        w = beta_grid_weights(model.edges, mu * kappa, (1 - mu) * kappa)
        p_abn = np.clip(s * theta + (1 - c) * (1 - theta), 1e-12, 1 - 1e-12)[None, :]
        biop = np.exp(n_abn * np.log(p_abn) + n_norm * np.log1p(-p_abn))
        num = (hist_y * biop) @ w
        den = hist @ w
        return -float(np.sum(np.log(np.maximum(num, 1e-300)) - np.log(np.maximum(den, 1e-300))))

    s0 = base.sens_prior[0] / sum(base.sens_prior)
    c0 = base.spec_prior[0] / sum(base.spec_prior)
    x0 = np.array([special.logit(s0), special.logit(c0), special.logit(base.theta_mean),
                   np.log(base.theta_concentration)])
    bounds = [(-6, 6), (-6, 6), (-8, 3), (np.log(0.05), np.log(500))]
    res = optimize.minimize(negll, x0, method="L-BFGS-B", bounds=bounds)
    x = res.x
    names = ("sensitivity", "specificity", "theta_mean", "theta_concentration")
    est = [*special.expit(x[:3]), float(np.exp(x[3]))]
    se = dict.fromkeys(names, float("nan"))
    try:
        hess = approx_hess3(x, negll)
        cov = np.linalg.inv(hess)
        var = np.diag(cov)
        if np.all(var > 0):
            jac = np.array([est[0] * (1 - est[0]), est[1] * (1 - est[1]),
                            est[2] * (1 - est[2]), est[3]])
            se = {n: float(j * np.sqrt(v)) for n, j, v in zip(names, jac, var, strict=True)}
    except np.linalg.LinAlgError:
        pass
    return ClinicFit(sensitivity=float(est[0]), specificity=float(est[1]),
                     theta_mean=float(est[2]), theta_concentration=float(est[3]), se=se,
                     log_likelihood=-float(res.fun), n_women=len(df),
                     converged=bool(res.success), base_params=base)


def simulate_cohort(
    params: RiskParams,
    n_women: int,
    *,
    sensitivity: float,
    specificity: float,
    seed: int | np.random.Generator,
    age_range: tuple[float, float] = (25.0, 42.0),
    prior_pregnancies: tuple[int, int] = (2, 5),
    biopsies: tuple[int, int] = (1, 4),
    clinic_accuracy: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Draw a synthetic clinic cohort from known parameters (documented generator).

    For each woman: age ~ Uniform(``age_range``); theta ~ Beta(``params.theta_ab``);
    embryonic frailty z ~ N(0, 1), her embryonic risk ``e = expit(logit e0(age) + sigma z)``
    (``sigma = params.embryonic_sd``; the model's own structure);
    J ~ uniform integer in ``prior_pregnancies`` previous pregnancies, each lost with
    probability ``pi(theta, z) = e + (1 - e) theta q`` (losses and live births counted);
    B ~ uniform integer in
    ``biopsies`` biopsies, each from an independent cycle that is defective with
    probability theta and called abnormal with probability ``sensitivity`` (defective) or
    ``1 - specificity`` (normal); next pregnancy lost with probability ``pi(theta)``.

    Parameters
    ----------
    params
        True age curve, theta distribution and ``q_defective``.
    n_women
        Cohort size.
    sensitivity, specificity
        True accuracy of the biopsy call.
    seed
        Seed or Generator (same seed, same cohort).
    age_range, prior_pregnancies, biopsies
        Ranges (inclusive for the integer ones).
    clinic_accuracy
        ``(sensitivity, specificity)`` of typed clinic calls: when given, each woman also
        has a uniform number in ``biopsies`` of clinic-called cycles (columns
        ``n_biopsy_abnormal_clinic`` / ``n_biopsy_normal_clinic``), drawn after the other
        columns so the rest of the cohort is the same as without them.

    Returns
    -------
    pandas.DataFrame
        :data:`COHORT_COLUMNS` plus ``theta`` and ``z`` (the true values, for checks).

    Examples
    --------
    >>> from decidua.risk.model import shipped_params
    >>> df = simulate_cohort(shipped_params(), 30, sensitivity=0.8, specificity=0.8, seed=1)
    >>> len(df), 'next_loss' in df.columns
    (30, True)
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    model = RiskModel(params, draws=())
    age = rng.uniform(*age_range, size=n_women)
    a, b = params.theta_ab
    theta = rng.beta(a, b, size=n_women)
    z = rng.standard_normal(n_women)
    e = special.expit(model._logit_e0(age) + params.embryonic_sd * z)
    pi = e + (1 - e) * theta * params.q_defective
    j = rng.integers(prior_pregnancies[0], prior_pregnancies[1] + 1, size=n_women)
    losses = rng.binomial(j, pi)
    n_b = rng.integers(biopsies[0], biopsies[1] + 1, size=n_women)
    p_abn = sensitivity * theta + (1 - specificity) * (1 - theta)
    n_abn = rng.binomial(n_b, p_abn)
    next_loss = (rng.random(n_women) < pi).astype(np.int64)
    out = pd.DataFrame({
        "age": age, "n_losses": losses, "n_live_births": j - losses,
        "n_biopsy_abnormal": n_abn, "n_biopsy_normal": n_b - n_abn, "next_loss": next_loss,
        "theta": theta, "z": z,
    })
    if clinic_accuracy is not None:
        sk, ck = clinic_accuracy
        n_k = rng.integers(biopsies[0], biopsies[1] + 1, size=n_women)
        k_abn = rng.binomial(n_k, sk * theta + (1 - ck) * (1 - theta))
        out["n_biopsy_abnormal_clinic"] = k_abn
        out["n_biopsy_normal_clinic"] = n_k - k_abn
    return out
