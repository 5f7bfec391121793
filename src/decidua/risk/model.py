"""Two-route recurrence-risk model: age-related embryonic loss + latent endometrial cycle defect.

Structure (after the two-route view reviewed in PMC9325922, 2022, and the serial-biopsy
findings of Muter et al., Sci Adv 2025):

* **Embryonic route.** A pregnancy is lost for embryonic (chiefly chromosomal, oocyte-origin)
  reasons with probability ``e(age)``, a smooth logistic curve in maternal age.
* **Endometrial route.** Each woman has a latent frequency ``theta`` of menstrual cycles with
  a defective (stalled / pro-senescent) decidual reaction; ``theta ~ Beta`` across women. A
  euploid pregnancy conceived in a defective cycle is lost with probability ``q_defective``.

So a woman's loss probability in her next pregnancy is::

    pi(theta) = e(age) + (1 - e(age)) * theta * q_defective

Evidence updates ``theta`` on a fixed grid (exact 1-D quadrature):

* each previous loss multiplies the likelihood by ``pi(theta)``; a loss whose pregnancy
  tissue was *chromosomally abnormal* multiplies it by ``e * (1 - m)`` (a constant, so it
  does not move ``theta``), and one with a *normal* karyotype by
  ``e * m + (1 - e) * theta * q`` (strong evidence for the endometrial route), where ``m``
  is the chance an aneuploid loss is reported normal (maternal-cell contamination);
* each live birth multiplies it by ``1 - pi(theta)``;
* each pre-pregnancy biopsy from a different cycle is the clinic's normal/abnormal call on
  that cycle, with sensitivity ``s`` and specificity ``c``; the call is abnormal with
  probability ``s * theta + (1 - c) * (1 - theta)``. ``s`` and ``c`` are shared by all of a
  woman's biopsies and integrated out over their Beta priors by Gauss-Legendre quadrature.

The reported probability is the posterior mean of ``pi(theta)``; the 95% credible interval
is the 2.5% and 97.5% posterior quantiles of ``pi(theta)`` (monotone in ``theta``).

The interval reflects the uncertainty about this woman's ``theta``; it does not include
uncertainty in the calibrated hyper-parameters (documented in ``docs/risk-model.md``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special, stats

from decidua import RESEARCH_USE_LABEL
from decidua.domain import (
    LOSS_OUTCOMES,
    DecidualCall,
    KaryotypeResult,
    Outcome,
    PregnancyRecord,
)
from decidua.errors import InputError, ModelError

#: Youngest and oldest maternal age accepted (years). Below 12 / above 60 the calibration data
#: (Magnus et al., BMJ 2019: ages < 20 to >= 45) say nothing; refuse rather than extrapolate.
MIN_AGE = 12.0
MAX_AGE = 60.0

#: Credible level of the reported interval.
CREDIBLE_LEVEL = 0.95

#: Number of theta grid cells (midpoint rule on (0, 1)); 200 keeps quantiles to 0.005.
DEFAULT_GRID_SIZE = 200

#: Gauss-Legendre nodes per sensitivity / specificity axis.
DEFAULT_SENS_SPEC_NODES = 12

#: Centre and scale of the age polynomial (years): z = (age - 30) / 10.
AGE_CENTRE = 30.0
AGE_SCALE = 10.0

#: Assumed years between a woman's previous pregnancies (taken together) and now (our
#: assumption). Past pregnancies are scored with the embryonic risk at ``age - 2``: they
#: happened earlier, when the age-related risk was lower. One offset for all of them keeps
#: the evidence exchangeable, so adding a loss always raises and adding a live birth always
#: lowers the estimate.
HISTORY_OFFSET_YEARS = 2.0

#: The history age is rounded to 1/4 year before scoring so that women with the same
#: evidence share one posterior (a speed-up; the offset is itself approximate). The current
#: age is used exactly.
HISTORY_AGE_STEPS_PER_YEAR = 4

_PARAMS_FILE = "params.json"


def history_age(age: np.ndarray | float) -> np.ndarray:
    """Age at which a woman's previous pregnancies are scored (``age - 2``, at least 12)."""
    return np.maximum(np.asarray(age, dtype=float) - HISTORY_OFFSET_YEARS, MIN_AGE)


@dataclass(frozen=True)
class RiskParams:
    """Hyper-parameters of the two-route model (what ``params.json`` stores).

    Attributes
    ----------
    model_version
        Identifier stored with every estimate.
    age_coef
        Coefficients ``c0..c3`` of ``logit e(age) = sum_k c_k z**k`` with
        ``z = (age - 30) / 10``.
    theta_mean, theta_concentration
        Mean ``mu`` and concentration ``kappa`` of the population Beta distribution of
        ``theta`` (``a = mu * kappa``, ``b = (1 - mu) * kappa``).
    q_defective
        Loss probability of a euploid pregnancy conceived in a defective cycle.
    sens_prior, spec_prior
        Beta ``(a, b)`` priors of the clinic call's sensitivity and specificity.
    karyotype_false_normal
        Probability ``m`` that an aneuploid loss is reported karyotypically normal.
    grid_size, sens_spec_nodes
        Quadrature resolution.
    notes
        Free text on where the numbers came from.
    """

    model_version: str
    age_coef: tuple[float, ...]
    theta_mean: float
    theta_concentration: float
    q_defective: float
    sens_prior: tuple[float, float]
    spec_prior: tuple[float, float]
    karyotype_false_normal: float
    grid_size: int = DEFAULT_GRID_SIZE
    sens_spec_nodes: int = DEFAULT_SENS_SPEC_NODES
    notes: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.theta_mean < 1:
            problems.append("theta_mean must be in (0, 1)")
        if not self.theta_concentration > 0:
            problems.append("theta_concentration must be > 0")
        if not 0 < self.q_defective <= 1:
            problems.append("q_defective must be in (0, 1]")
        for name in ("sens_prior", "spec_prior"):
            a, b = getattr(self, name)
            if not (a > 0 and b > 0):
                problems.append(f"{name} Beta parameters must be > 0")
        if not 0 <= self.karyotype_false_normal < 1:
            problems.append("karyotype_false_normal must be in [0, 1)")
        if len(self.age_coef) < 1:
            problems.append("age_coef needs at least one coefficient")
        if problems:
            raise ModelError("invalid risk parameters: " + "; ".join(problems))

    @property
    def theta_ab(self) -> tuple[float, float]:
        """Beta ``(a, b)`` of ``theta``."""
        return (
            self.theta_mean * self.theta_concentration,
            (1 - self.theta_mean) * self.theta_concentration,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["age_coef"] = list(self.age_coef)
        d["sens_prior"] = list(self.sens_prior)
        d["spec_prior"] = list(self.spec_prior)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RiskParams:
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known}
        kw["age_coef"] = tuple(float(x) for x in kw["age_coef"])
        kw["sens_prior"] = tuple(float(x) for x in kw["sens_prior"])  # type: ignore[assignment]
        kw["spec_prior"] = tuple(float(x) for x in kw["spec_prior"])  # type: ignore[assignment]
        return cls(**kw)

    def save(self, path: str | Path) -> None:
        """Write the parameters as versioned JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> RiskParams:
        """Read parameters written by :meth:`save`."""
        try:
            d = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelError(f"cannot read risk parameters from {path}: {exc}") from exc
        return cls.from_dict(d)


def shipped_params() -> RiskParams:
    """The calibrated parameters shipped with the package (``risk/params.json``)."""
    text = resources.files("decidua.risk").joinpath(_PARAMS_FILE).read_text(encoding="utf-8")
    return RiskParams.from_dict(json.loads(text))


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class Evidence:
    """Counts that summarise a woman's evidence about ``theta`` (sufficient statistics)."""

    n_loss: int = 0  # losses without an informative karyotype
    n_loss_karyotype_abnormal: int = 0
    n_loss_karyotype_normal: int = 0
    n_live_births: int = 0
    n_biopsy_abnormal: int = 0
    n_biopsy_normal: int = 0

    @property
    def n_losses_total(self) -> int:
        return self.n_loss + self.n_loss_karyotype_abnormal + self.n_loss_karyotype_normal


def _parse_outcome(item: Any, index: int) -> Outcome:
    if isinstance(item, Outcome):
        return item
    if isinstance(item, str):
        try:
            return Outcome(item.strip().lower())
        except ValueError:
            pass
    allowed = ", ".join(o.value for o in Outcome)
    raise InputError(
        f"unknown pregnancy outcome (allowed: {allowed})", column="history", row=index + 1,
        value=item,
    )


def encode_history(history: Sequence[Outcome | str | PregnancyRecord] | int) -> Evidence:
    """Turn an obstetric history into evidence counts.

    Parameters
    ----------
    history
        Either the number of previous consecutive losses (int >= 0, no live birth), or a
        sequence of :class:`~decidua.domain.Outcome` / outcome strings /
        :class:`~decidua.domain.PregnancyRecord`. A record's karyotype is used: a loss with
        an abnormal pregnancy-tissue karyotype is evidence for the embryonic route.

    Returns
    -------
    Evidence
        Counts (biopsy fields zero).

    Raises
    ------
    InputError
        Negative count, non-integer count, or unknown outcome.
    """
    if isinstance(history, bool | float | np.floating):
        raise InputError("history must be a whole number of losses or a list of outcomes",
                         column="history", value=history)
    if isinstance(history, int | np.integer):
        if history < 0:
            raise InputError("number of losses cannot be negative", column="history",
                             value=int(history))
        return Evidence(n_loss=int(history))
    if isinstance(history, str | bytes):
        raise InputError("history must be a list of outcomes, not a string", column="history",
                         value=history)
    n_loss = n_abn = n_norm = n_lb = 0
    for i, item in enumerate(history):
        karyotype = KaryotypeResult.NOT_TESTED
        if isinstance(item, PregnancyRecord):
            outcome = item.outcome
            karyotype = item.karyotype
        else:
            outcome = _parse_outcome(item, i)
        if outcome in LOSS_OUTCOMES:
            if karyotype is KaryotypeResult.ABNORMAL:
                n_abn += 1
            elif karyotype is KaryotypeResult.NORMAL:
                n_norm += 1
            else:
                n_loss += 1
        elif outcome is Outcome.LIVE_BIRTH:
            n_lb += 1
        # ectopic, molar, termination, ongoing: no information about the decidual route.
    return Evidence(n_loss=n_loss, n_loss_karyotype_abnormal=n_abn,
                    n_loss_karyotype_normal=n_norm, n_live_births=n_lb)


def encode_biopsies(biopsies: Iterable[DecidualCall | str | Any]) -> tuple[int, int]:
    """Count abnormal and normal biopsy calls.

    Parameters
    ----------
    biopsies
        :class:`~decidua.domain.DecidualCall`, the strings ``"normal"`` / ``"abnormal"``, or
        :class:`~decidua.domain.BiopsyRecord` (its ``clinic_call``; biopsies without a call or
        taken on treatment are skipped, as they say nothing about the untreated cycle).

    Returns
    -------
    tuple of int
        ``(n_abnormal, n_normal)``.
    """
    if isinstance(biopsies, str | bytes):
        raise InputError("biopsies must be a list of calls, not a string", column="biopsies",
                         value=biopsies)
    n_abn = n_norm = 0
    for i, b in enumerate(biopsies):
        call: Any = b
        if hasattr(b, "clinic_call") and hasattr(b, "on_treatment"):
            if b.clinic_call is None or b.on_treatment:
                continue
            call = b.clinic_call
        if isinstance(call, str):
            try:
                call = DecidualCall(call.strip().lower())
            except ValueError:
                call = None
        if call is DecidualCall.ABNORMAL:
            n_abn += 1
        elif call is DecidualCall.NORMAL:
            n_norm += 1
        else:
            raise InputError("biopsy call must be 'normal' or 'abnormal'", column="biopsies",
                             row=i + 1, value=b)
    return n_abn, n_norm


def validate_age(age: Any) -> float:
    """Check a maternal age (years) and return it as float."""
    try:
        value = float(age)
    except (TypeError, ValueError):
        raise InputError("age must be a number of years", column="age", value=age) from None
    if isinstance(age, bool) or not np.isfinite(value) or not MIN_AGE <= value <= MAX_AGE:
        raise InputError(f"age must be between {MIN_AGE:g} and {MAX_AGE:g} years",
                         column="age", value=age)
    return value


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Components:
    """Share of the predicted loss probability carried by each route (sums to 1)."""

    embryonic: float
    endometrial: float

    def to_dict(self) -> dict[str, float]:
        return {"embryonic": self.embryonic, "endometrial": self.endometrial}


@dataclass(frozen=True)
class RiskEstimate:
    """Predicted probability that the next pregnancy ends in a loss.

    Attributes
    ----------
    p_loss
        Posterior mean loss probability of the next pregnancy.
    interval
        95% credible interval of the woman's loss probability.
    components
        Embryonic vs endometrial share of ``p_loss``.
    model_version
        Version of the parameters used.
    age, evidence
        The inputs as the model saw them.
    theta_mean, theta_interval
        Posterior mean and 95% interval of the woman's defective-cycle frequency.
    sd
        Posterior standard deviation of the woman's loss probability.
    label
        "Research use only; not a diagnostic device."
    """

    p_loss: float
    interval: tuple[float, float]
    components: Components
    model_version: str
    age: float
    evidence: Evidence
    theta_mean: float
    theta_interval: tuple[float, float]
    sd: float = float("nan")
    label: str = RESEARCH_USE_LABEL

    def to_dict(self) -> dict[str, Any]:
        return {
            "p_loss": self.p_loss,
            "sd": self.sd,
            "interval": [self.interval[0], self.interval[1]],
            "components": self.components.to_dict(),
            "model_version": self.model_version,
            "age": self.age,
            "evidence": asdict(self.evidence),
            "theta_mean": self.theta_mean,
            "theta_interval": [self.theta_interval[0], self.theta_interval[1]],
            "label": self.label,
        }


@dataclass(frozen=True)
class BiopsyOutlook:
    """What one more pre-pregnancy biopsy could change (see :meth:`RiskModel.biopsy_outlook`).

    Attributes
    ----------
    p_abnormal
        Predictive probability that the next call is abnormal.
    now, if_abnormal, if_normal
        Estimates today and after an abnormal / a normal call.
    expected_sd_after
        Square root of the expected posterior variance of the loss probability after the
        biopsy (averaged over its two possible calls); never above ``now.sd``.
    """

    p_abnormal: float
    now: RiskEstimate
    if_abnormal: RiskEstimate
    if_normal: RiskEstimate
    expected_sd_after: float

    def to_dict(self) -> dict[str, Any]:
        return {"p_abnormal": self.p_abnormal, "now": self.now.to_dict(),
                "if_abnormal": self.if_abnormal.to_dict(),
                "if_normal": self.if_normal.to_dict(),
                "expected_sd_after": self.expected_sd_after}


@dataclass(frozen=True)
class CohortRisk:
    """Vectorised result of :meth:`RiskModel.predict_many` (one entry per woman).

    ``lower`` / ``upper`` bound the 95% credible interval of each woman's loss probability;
    ``sd`` is its posterior standard deviation.
    """

    p_loss: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    embryonic_share: np.ndarray
    theta_mean: np.ndarray
    model_version: str
    sd: np.ndarray | None = None
    label: str = RESEARCH_USE_LABEL

    def __len__(self) -> int:
        return int(self.p_loss.shape[0])

    def to_frame(self):  # -> pandas.DataFrame
        """Return a DataFrame with one row per woman."""
        import pandas as pd

        return pd.DataFrame({
            "p_loss": self.p_loss,
            "lower": self.lower,
            "upper": self.upper,
            "embryonic_share": self.embryonic_share,
            "endometrial_share": 1.0 - self.embryonic_share,
            "theta_mean": self.theta_mean,
            "sd": self.sd,
            "model_version": self.model_version,
        })

    def to_dict(self) -> dict[str, Any]:
        return {
            "p_loss": self.p_loss.tolist(),
            "lower": self.lower.tolist(),
            "upper": self.upper.tolist(),
            "embryonic_share": self.embryonic_share.tolist(),
            "model_version": self.model_version,
            "label": self.label,
        }


# --------------------------------------------------------------------------- the model


def beta_grid_weights(grid_edges: np.ndarray, a: float, b: float) -> np.ndarray:
    """Prior mass of each grid cell under Beta(a, b) (CDF differences; exact for any a, b)."""
    w = np.diff(stats.beta.cdf(grid_edges, a, b))
    w = np.clip(w, 0.0, None)
    return w / w.sum()


def beta_nodes(a: float, b: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes in probability space mapped through the Beta(a, b) quantile.

    Returns nodes ``x`` and weights ``w`` with ``sum(w * f(x)) ~= E[f(X)]``, X ~ Beta(a, b).
    """
    u, w = np.polynomial.legendre.leggauss(n)
    u = 0.5 * (u + 1.0)
    return stats.beta.ppf(u, a, b), 0.5 * w


class RiskModel:
    """The two-route recurrence-risk model with fixed hyper-parameters.

    Parameters
    ----------
    params
        Hyper-parameters; default the shipped calibrated file.
    """

    def __init__(self, params: RiskParams | None = None) -> None:
        self.params = params if params is not None else shipped_params()
        p = self.params
        g = int(p.grid_size)
        self.edges = np.linspace(0.0, 1.0, g + 1)
        self.theta = 0.5 * (self.edges[:-1] + self.edges[1:])
        self.prior = beta_grid_weights(self.edges, *p.theta_ab)
        self.log_prior = np.log(np.clip(self.prior, 1e-300, None))
        self._nodes: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None
        self._nodes = None  # sens/spec quadrature, built on first use
        self._biopsy_cache: dict[tuple[int, int], np.ndarray] = {}

    @property
    def model_version(self) -> str:
        return self.params.model_version

    # -- pieces ------------------------------------------------------------------------
    def embryonic(self, age: np.ndarray | float) -> np.ndarray:
        """Embryonic-route loss probability ``e(age)``."""
        z = (np.asarray(age, dtype=float) - AGE_CENTRE) / AGE_SCALE
        eta = np.polynomial.polynomial.polyval(z, np.asarray(self.params.age_coef))
        return special.expit(eta)

    def population_risk(self, age: np.ndarray | float) -> np.ndarray:
        """Loss probability of a pregnancy of a woman with no history (prior mean)."""
        e = self.embryonic(age)
        return e + (1 - e) * self.params.theta_mean * self.params.q_defective

    def biopsy_loglik(self, n_abnormal: int, n_normal: int) -> np.ndarray:
        """Log-likelihood over the theta grid of biopsy calls, sens/spec integrated out."""
        key = (int(n_abnormal), int(n_normal))
        cached = self._biopsy_cache.get(key)
        if cached is not None:
            return cached
        if key == (0, 0):
            out = np.zeros_like(self.theta)
        else:
            if self._nodes is None:
                p = self.params
                self._nodes = (beta_nodes(*p.sens_prior, int(p.sens_spec_nodes)),
                               beta_nodes(*p.spec_prior, int(p.sens_spec_nodes)))
            (s, ws), (c, wc) = self._nodes
            # p_abn[i, j, g] = s_i * theta_g + (1 - c_j) * (1 - theta_g)
            p_abn = (s[:, None, None] * self.theta[None, None, :]
                     + (1 - c)[None, :, None] * (1 - self.theta)[None, None, :])
            p_abn = np.clip(p_abn, 1e-300, 1 - 1e-16)
            ll = key[0] * np.log(p_abn) + key[1] * np.log1p(-p_abn)
            ll += np.log(ws)[:, None, None] + np.log(wc)[None, :, None]
            out = special.logsumexp(ll.reshape(-1, self.theta.size), axis=0)
        self._biopsy_cache[key] = out
        return out

    # -- inference ---------------------------------------------------------------------
    def _log_posterior(
        self,
        hist_age: np.ndarray,
        n_loss: np.ndarray,
        n_knorm: np.ndarray,
        n_lb: np.ndarray,
        n_babn: np.ndarray,
        n_bnorm: np.ndarray,
    ) -> np.ndarray:
        """Unnormalised log posterior of theta over the grid (one row per evidence pattern).

        ``hist_age`` is the representative age of the previous pregnancies
        (:func:`history_age`). Losses with an abnormal karyotype have likelihood
        ``e * (1 - m)``, constant in theta, so they only enter through ``hist_age``.
        """
        p = self.params
        lp = np.broadcast_to(self.log_prior, (hist_age.shape[0], self.theta.size)).copy()
        if np.any(n_loss) or np.any(n_lb) or np.any(n_knorm):
            tq = self.theta * p.q_defective
            # One row of log pi / log(1 - pi) per distinct history age (few), gathered per
            # woman: no transcendental functions on the n x grid arrays.
            uh, hidx = np.unique(hist_age, return_inverse=True)
            hidx = hidx.reshape(-1)
            eh = self.embryonic(uh)
            pi = eh[:, None] + (1 - eh)[:, None] * tq[None, :]
            if np.any(n_loss):
                lp += n_loss[:, None] * np.log(pi)[hidx]
            if np.any(n_lb):
                lp += n_lb[:, None] * np.log1p(-pi)[hidx]
            rows = np.flatnonzero(n_knorm)
            if rows.size:
                m = p.karyotype_false_normal
                ek = eh[hidx[rows]][:, None]
                lp[rows] += n_knorm[rows][:, None] * np.log(ek * m + (1 - ek) * tq[None, :])
        if np.any(n_babn) or np.any(n_bnorm):
            pairs = np.stack([n_babn, n_bnorm], axis=1)
            uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
            table = np.stack([self.biopsy_loglik(a, b) for a, b in uniq])
            lp += table[inv.reshape(-1)]
        return lp

    def _theta_summaries(self, hist_age: np.ndarray, counts: dict[str, np.ndarray],
                         chunk_size: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Posterior mean, 2.5% / 97.5% quantiles and variance of theta per row."""
        n = hist_age.shape[0]
        th_mean = np.empty(n)
        th_var = np.empty(n)
        th_lo = np.empty(n)
        th_hi = np.empty(n)
        alpha = (1 - CREDIBLE_LEVEL) / 2
        for start in range(0, n, chunk_size):
            sl = slice(start, min(start + chunk_size, n))
            lp = self._log_posterior(
                hist_age[sl], counts["n_losses"][sl], counts["n_loss_karyotype_normal"][sl],
                counts["n_live_births"][sl], counts["n_biopsy_abnormal"][sl],
                counts["n_biopsy_normal"][sl],
            )
            lp -= lp.max(axis=1, keepdims=True)
            w = np.exp(lp, out=lp)
            w /= w.sum(axis=1, keepdims=True)
            th_mean[sl] = w @ self.theta
            th_var[sl] = np.maximum(w @ self.theta**2 - th_mean[sl] ** 2, 0.0)
            cdf = np.cumsum(w, axis=1, out=w)
            th_lo[sl] = self._quantile(cdf, alpha)
            th_hi[sl] = self._quantile(cdf, 1 - alpha)
        return th_mean, th_lo, th_hi, th_var

    def predict_many(
        self,
        age: Sequence[float] | np.ndarray,
        n_losses: Sequence[int] | np.ndarray | int = 0,
        n_live_births: Sequence[int] | np.ndarray | int = 0,
        n_biopsy_abnormal: Sequence[int] | np.ndarray | int = 0,
        n_biopsy_normal: Sequence[int] | np.ndarray | int = 0,
        n_loss_karyotype_abnormal: Sequence[int] | np.ndarray | int = 0,
        n_loss_karyotype_normal: Sequence[int] | np.ndarray | int = 0,
        *,
        chunk_size: int = 8192,
    ) -> CohortRisk:
        """Score a cohort (vectorised; 100,000 women in well under a second).

        Parameters
        ----------
        age
            Maternal age (years) per woman, 12-60.
        n_losses
            Previous losses without an informative karyotype.
        n_live_births
            Previous live births.
        n_biopsy_abnormal, n_biopsy_normal
            Number of pre-pregnancy biopsies (different cycles) called abnormal / normal.
        n_loss_karyotype_abnormal, n_loss_karyotype_normal
            Previous losses with an abnormal / normal pregnancy-tissue karyotype.
        chunk_size
            Rows processed at once (bounds memory to ``chunk_size * grid_size`` floats).

        Returns
        -------
        CohortRisk

        Raises
        ------
        InputError
            Age outside 12-60, negative or non-integer counts, mismatched lengths.
        """
        ages = np.atleast_1d(np.asarray(age, dtype=float))
        n = ages.shape[0]
        problems = []
        if not np.all(np.isfinite(ages)) or np.any((ages < MIN_AGE) | (ages > MAX_AGE)):
            bad = np.flatnonzero(~np.isfinite(ages) | (ages < MIN_AGE) | (ages > MAX_AGE))
            raise InputError(f"age must be between {MIN_AGE:g} and {MAX_AGE:g} years",
                             column="age", row=int(bad[0]) + 1, value=float(ages[bad[0]]))
        counts = {}
        for name, val in [
            ("n_losses", n_losses), ("n_live_births", n_live_births),
            ("n_biopsy_abnormal", n_biopsy_abnormal), ("n_biopsy_normal", n_biopsy_normal),
            ("n_loss_karyotype_abnormal", n_loss_karyotype_abnormal),
            ("n_loss_karyotype_normal", n_loss_karyotype_normal),
        ]:
            arr = np.asarray(val)
            try:
                whole = arr.dtype != bool and (np.issubdtype(arr.dtype, np.integer)
                                               or bool(np.all(np.mod(arr, 1) == 0)))
            except TypeError:
                whole = False
            if not whole:
                problems.append(f"{name} must be whole numbers")
                continue
            arr = np.broadcast_to(arr.astype(np.int64), (n,)) if arr.ndim == 0 else arr
            if arr.shape != (n,):
                problems.append(f"{name} has {arr.shape[0]} values for {n} ages")
                continue
            arr = arr.astype(np.int64)
            if np.any(arr < 0):
                problems.append(f"{name} cannot be negative")
                continue
            counts[name] = arr
        if problems:
            raise InputError(problems[0] if len(problems) == 1 else
                             [InputError(p).problems[0] for p in problems])
        # The theta posterior depends only on the evidence counts and the (rounded) history
        # age: score each distinct pattern once, then apply the exact
        # current-age embryonic risk per woman.
        h_steps = np.rint(history_age(ages) * HISTORY_AGE_STEPS_PER_YEAR).astype(np.int64)
        cols = [h_steps, counts["n_losses"], counts["n_live_births"],
                counts["n_loss_karyotype_normal"], counts["n_biopsy_abnormal"],
                counts["n_biopsy_normal"]]
        key = np.zeros(n, dtype=np.int64)
        overflow = False
        for col in cols:
            radix = int(col.max()) + 1 if n else 1
            if key.max(initial=0) > np.iinfo(np.int64).max // max(radix, 1) // 2:
                overflow = True
                break
            key = key * radix + col
        if overflow:
            _, first, inverse = np.unique(np.stack(cols, axis=1), axis=0, return_index=True,
                                          return_inverse=True)
        else:
            _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        ucounts = {k: v[first] for k, v in counts.items()}
        th_mean_u, th_lo_u, th_hi_u, th_var_u = self._theta_summaries(
            h_steps[first] / HISTORY_AGE_STEPS_PER_YEAR, ucounts, chunk_size)
        th_mean = th_mean_u[inverse]
        q = self.params.q_defective
        e = self.embryonic(ages)
        p_loss = e + (1 - e) * th_mean * q
        return CohortRisk(
            p_loss=p_loss,
            lower=e + (1 - e) * th_lo_u[inverse] * q,
            upper=e + (1 - e) * th_hi_u[inverse] * q,
            embryonic_share=e / p_loss,
            theta_mean=th_mean,
            model_version=self.model_version,
            sd=(1 - e) * q * np.sqrt(th_var_u[inverse]),
        )

    def _quantile(self, cdf: np.ndarray, q: float) -> np.ndarray:
        """Theta quantile from row-wise grid CDFs (linear within the grid cell)."""
        idx = (cdf < q).sum(axis=1)
        idx = np.minimum(idx, cdf.shape[1] - 1)
        rows = np.arange(cdf.shape[0])
        c_hi = cdf[rows, idx]
        c_lo = np.where(idx > 0, cdf[rows, np.maximum(idx - 1, 0)], 0.0)
        frac = np.where(c_hi > c_lo, (q - c_lo) / np.where(c_hi > c_lo, c_hi - c_lo, 1.0), 0.5)
        return self.edges[idx] + np.clip(frac, 0.0, 1.0) * (self.edges[idx + 1] - self.edges[idx])

    def predict(
        self,
        age: float,
        history: Sequence[Outcome | str | PregnancyRecord] | int = 0,
        biopsies: Iterable[DecidualCall | str | Any] = (),
    ) -> RiskEstimate:
        """Risk of losing the next pregnancy for one woman (see :func:`decidua.risk.predict`)."""
        a = validate_age(age)
        ev = encode_history(history)
        n_abn, n_norm = encode_biopsies(biopsies)
        ev = replace(ev, n_biopsy_abnormal=n_abn, n_biopsy_normal=n_norm)
        res = self.predict_many(
            [a], ev.n_loss, ev.n_live_births, n_abn, n_norm,
            ev.n_loss_karyotype_abnormal, ev.n_loss_karyotype_normal,
        )
        p = float(res.p_loss[0])
        emb = float(res.embryonic_share[0])
        q = self.params.q_defective
        e = float(self.embryonic(a))
        th_lo = (float(res.lower[0]) - e) / ((1 - e) * q)
        th_hi = (float(res.upper[0]) - e) / ((1 - e) * q)
        return RiskEstimate(
            p_loss=p,
            interval=(float(res.lower[0]), float(res.upper[0])),
            components=Components(embryonic=emb, endometrial=1.0 - emb),
            model_version=self.model_version,
            age=a,
            evidence=ev,
            theta_mean=float(res.theta_mean[0]),
            theta_interval=(max(th_lo, 0.0), min(th_hi, 1.0)),
            sd=float(res.sd[0]) if res.sd is not None else float("nan"),
        )

    def biopsy_outlook(
        self,
        age: float,
        history: Sequence[Outcome | str | PregnancyRecord] | int = 0,
        biopsies: Iterable[DecidualCall | str | Any] = (),
    ) -> BiopsyOutlook:
        """What one more biopsy (from a new cycle) could change.

        The predictive probability that the next call is abnormal is the ratio of marginal
        likelihoods ``Z(data + abnormal) / Z(data)`` (theta, sensitivity and specificity
        integrated out), so the law of total variance holds exactly: the expected posterior
        variance after the biopsy never exceeds the current one.

        Returns
        -------
        BiopsyOutlook
        """
        a = validate_age(age)
        ev = encode_history(history)
        n_abn, n_norm = encode_biopsies(biopsies)
        steps = HISTORY_AGE_STEPS_PER_YEAR
        h = np.rint(history_age(a) * steps) / steps
        three = np.ones(3)
        lp = self._log_posterior(
            h * three, ev.n_loss * three.astype(np.int64),
            ev.n_loss_karyotype_normal * three.astype(np.int64),
            ev.n_live_births * three.astype(np.int64),
            np.array([n_abn, n_abn + 1, n_abn]), np.array([n_norm, n_norm, n_norm + 1]),
        )
        log_z = special.logsumexp(lp, axis=1)
        p_abn = float(np.exp(log_z[1] - log_z[0]))
        calls = list(biopsies) if not isinstance(biopsies, str | bytes) else biopsies
        now = self.predict(a, history, calls)
        if_abn = self.predict(a, history, [*calls, DecidualCall.ABNORMAL])
        if_norm = self.predict(a, history, [*calls, DecidualCall.NORMAL])
        return BiopsyOutlook(
            p_abnormal=p_abn,
            now=now,
            if_abnormal=if_abn,
            if_normal=if_norm,
            expected_sd_after=float(np.sqrt(p_abn * if_abn.sd**2 + (1 - p_abn) * if_norm.sd**2)),
        )

    def posterior_theta(
        self,
        age: float,
        history: Sequence[Outcome | str | PregnancyRecord] | int = 0,
        biopsies: Iterable[DecidualCall | str | Any] = (),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior of ``theta`` on the grid: ``(theta, weights)`` (for plots)."""
        a = validate_age(age)
        ev = encode_history(history)
        n_abn, n_norm = encode_biopsies(biopsies)
        one = np.array
        steps = HISTORY_AGE_STEPS_PER_YEAR
        h = np.rint(history_age(a) * steps) / steps
        lp = self._log_posterior(
            one([h]), one([ev.n_loss]), one([ev.n_loss_karyotype_normal]),
            one([ev.n_live_births]), one([n_abn]), one([n_norm]),
        )
        w = np.exp(lp[0] - lp[0].max())
        return self.theta.copy(), w / w.sum()


_DEFAULT_MODEL: RiskModel | None = None


def default_model() -> RiskModel:
    """The model built from the shipped parameters (cached)."""
    global _DEFAULT_MODEL
    if _DEFAULT_MODEL is None:
        _DEFAULT_MODEL = RiskModel(shipped_params())
    return _DEFAULT_MODEL
