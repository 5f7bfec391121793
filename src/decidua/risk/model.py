"""Two-route recurrence-risk model: age-related embryonic loss + latent endometrial cycle defect.

Structure (after the two-route view reviewed in PMC9325922, 2022, and the serial-biopsy
findings of Muter et al., Sci Adv 2025):

* **Embryonic route.** A pregnancy is lost for embryonic (chiefly chromosomal, oocyte-origin)
  reasons with probability ``e(age, z) = expit(logit e0(age) + sigma * z)``: a smooth
  logistic age curve ``e0`` and a woman-specific frailty ``z ~ N(0, 1)`` (model v2). The
  frailty is what recurrent aneuploidy within couples implies (Nikitina et al., J Assist
  Reprod Genet 2020: odds ratio 6.98 that a subsequent loss repeats the previous one's
  karyotype pattern); it lets losses in an older woman raise her *embryonic* risk, so that
  age keeps mattering within a history (Brigham et al., Hum Reprod 1999).
* **Non-embryonic route.** Each woman has a latent frequency ``theta`` of menstrual cycles
  with a defective (stalled / pro-senescent) decidual reaction; ``theta ~ Beta`` across
  women. A euploid pregnancy conceived in a defective cycle is lost with probability
  ``q_defective``. Without investigations, this route carries *all* risk not explained by
  the embryo: antiphospholipid syndrome, uterine and parental causes as well as an
  endometrial defect; hence its share is reported as ``non_embryonic``.

So a woman's loss probability in her next pregnancy is::

    pi(theta, z) = e(age, z) + (1 - e(age, z)) * theta * q_defective

Evidence updates ``(theta, z)`` on a fixed grid (exact 2-D quadrature: midpoint cells in
theta, Gauss-Hermite nodes in z): each previous loss multiplies the likelihood by
``pi_h``; a loss with an *abnormal* karyotype is explained by its embryo (a constant
factor: it moves neither theta nor z), one with a *normal*
karyotype by ``e_h m + (1 - e_h) theta q`` (``m``: aneuploid loss reported normal); each
live birth by ``1 - pi_h``; each pre-pregnancy biopsy call by
``s theta + (1 - c)(1 - theta)`` (or its complement), with sensitivity ``s`` and
specificity ``c`` integrated out over their Beta priors.

The reported probability is the posterior mean of ``pi``. The 95% interval pools the
posterior distribution of ``pi`` over a fixed, shipped set of parameter draws from the
calibration's Laplace approximation (the uncertainty of the published targets), so it holds
both what the record cannot tell about this woman and what the published figures cannot
tell about the model (:data:`INTERVAL_MEANING`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from scipy import special  # not scipy.stats: a second of start-up (issue 10)

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

#: Gauss-Hermite nodes for the embryonic frailty z ~ N(0, 1).
DEFAULT_FRAILTY_NODES = 7

#: What the 95% interval means, in one sentence (shown with every estimate).
INTERVAL_MEANING = (
    "95% interval: given this record, the woman's own chance of losing the next pregnancy "
    "lies in this range with 95% probability under the model, allowing both for what the "
    "record cannot tell about her and for parameter uncertainty from the published figures "
    "the model was calibrated to; it is not a range of outcomes of other women."
)

#: Ages over which the age curve was calibrated (Magnus 2019 bands < 20 to >= 45, as
#: 16-47 in :mod:`decidua.risk.calibration`). Outside them the curve is held at its end
#: values instead of extrapolating the quartic (which, for some parameter draws, ran to
#: near 1 at age 12); accepted ages stay 12-60.
AGE_CURVE_RANGE = (16.0, 47.0)

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

#: Key under which an explicit history age (years, per woman) travels with the counts.
HISTORY_AGE_KEY = "_history_age"

#: Completed weeks from which a loss is a second-trimester loss (RCOG Green-top 17, 2023:
#: first trimester = before 12+0 weeks; as ``decidua.pathway.engine.SECOND_TRIMESTER_WEEKS``).
#: Scored with :attr:`RiskParams.second_trimester_loss_weight` since model 2026.12-3
#: (docs/risk-model.md, "Gestation at loss").
SECOND_TRIMESTER_WEEKS = 12.0

#: Count columns of outcomes before the last run (down-weighted; model 2026.12-2).
EARLIER_KEYS = ("n_loss_earlier", "n_live_births_earlier", "n_loss_karyotype_normal_earlier")

#: Count columns of typed clinic calls (their own accuracy prior; model 2026.12-2).
CLINIC_CALL_KEYS = ("n_biopsy_abnormal_clinic", "n_biopsy_normal_clinic")

#: Count columns of untested losses by gestation (model 2026.12-3): subsets of ``n_losses``
#: (last run) and ``n_loss_earlier``; each such loss enters with the power
#: ``second_trimester_loss_weight`` / ``fetal_heart_loss_weight`` instead of 1.
LOSS_KIND_KEYS = ("n_loss_second_trimester_untested", "n_loss_second_trimester_untested_earlier",
                  "n_loss_after_heart_untested", "n_loss_after_heart_untested_earlier")


def _biopsy_columns(counts: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Biopsy-call count columns: computed abnormal / normal, then clinic abnormal / normal
    (zeros when absent)."""
    zero = np.zeros_like(counts["n_biopsy_abnormal"])
    return [counts["n_biopsy_abnormal"], counts["n_biopsy_normal"],
            *[counts.get(k, zero) for k in CLINIC_CALL_KEYS]]


_PARAMS_FILE = "params.json"
_DRAWS_FILE = "param_draws.json"


def _unique_rows(cols: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Index of the first row of each distinct row of non-negative integer columns, and
    the inverse (a radix key and a 1-D sort; rows with a key overflow fall back to
    ``np.unique(axis=0)``)."""
    n = cols[0].shape[0]
    key = np.zeros(n, dtype=np.int64)
    for col in cols:
        radix = int(col.max()) + 1 if n else 1
        if key.max(initial=0) > np.iinfo(np.int64).max // max(radix, 1) // 2:
            _, first, inv = np.unique(np.stack(cols, axis=1), axis=0, return_index=True,
                                      return_inverse=True)
            return first, inv.reshape(-1)
        key = key * radix + col
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return first, inv.reshape(-1)


def _check_loss_kinds(counts: dict[str, np.ndarray]) -> None:
    """The gestation subsets of the untested losses cannot exceed them (per position)."""
    for total, late, heart, name in (
            ("n_losses", "n_loss_second_trimester_untested", "n_loss_after_heart_untested",
             "n_losses"),
            ("n_loss_earlier", "n_loss_second_trimester_untested_earlier",
             "n_loss_after_heart_untested_earlier", "n_losses_earlier")):
        if late not in counts or heart not in counts:
            continue
        bad = np.flatnonzero(counts[late] + counts[heart] > counts[total])
        if bad.size:
            raise InputError(f"second-trimester and after-heart-activity losses cannot exceed "
                             f"{name}", column=name, row=int(bad[0]) + 1,
                             value=int(counts[total][bad[0]]))


def _check_history_age(values: Any, ages: np.ndarray) -> np.ndarray:
    h = np.atleast_1d(np.asarray(values, dtype=float))
    if h.shape != ages.shape:
        raise InputError(f"history_age has {h.size} values for {ages.size} ages",
                         column="history_age")
    bad = ~np.isfinite(h) | (h < MIN_AGE) | (h > ages + 1e-9)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise InputError("history_age must lie between 12 and the current age",
                         column="history_age", row=i + 1, value=float(h[i]))
    return h


def history_age(age: np.ndarray | float) -> np.ndarray:
    """Age at which a woman's previous pregnancies are scored (``age - 2``, at least 12).

    Examples
    --------
    >>> history_age([30.0, 13.0]).tolist()
    [28.0, 12.0]
    """
    return np.maximum(np.asarray(age, dtype=float) - HISTORY_OFFSET_YEARS, MIN_AGE)


#: Alias of :func:`history_age` for methods whose keyword argument shadows it.
_default_history_age = history_age


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
    embryonic_sd
        Standard deviation ``sigma`` of the embryonic frailty on the logit scale (0: every
        woman of one age has the same embryonic risk, the v1 model).
    earlier_outcome_weight
        Weight ``w`` (0-1) of the likelihood of each outcome *before* the last run of
        identical outcomes (losses or live births) preceding the next pregnancy: a power
        likelihood, so that the outcomes just before the next pregnancy count fully and
        earlier ones less (Kolte et al., Hum Reprod 2021; Egerup et al., Hum Reprod 2016).
        1: every outcome counts alike (model 2026.12-1).
    second_trimester_loss_weight
        Power of the likelihood of an untested loss at >= 12 completed weeks (1: like any
        loss, models up to 2026.12-2). Shipped 1.5, our assumption bounded by Egerup et al.,
        Hum Reprod 2016 (docs/risk-model.md, "Gestation at loss").
    fetal_heart_loss_weight
        Power of the likelihood of an untested first-trimester loss after fetal heart
        activity was seen (1: like any loss). Shipped 0.8, our assumption after Kling et
        al., Arch Gynecol Obstet 2016 (losses after embryonic heart action: better outcome).
    clinic_sens_prior, clinic_spec_prior
        Beta priors of the accuracy of a *typed clinic call* (source ``"clinic"``), used
        for biopsies whose call came from the clinic rather than from Decidua's computed
        call (source ``"computed"``, or unknown: ``sens_prior`` / ``spec_prior``).
        ``None``: the same priors as the computed call. Each source's accuracy is
        integrated out separately (independent accuracies).
    grid_size, sens_spec_nodes, frailty_nodes
        Quadrature resolution.
    notes
        Free text on where the numbers came from.

    Examples
    --------
    >>> p = shipped_params()
    >>> RiskParams.from_dict(p.to_dict()) == p
    True
    """

    model_version: str
    age_coef: tuple[float, ...]
    theta_mean: float
    theta_concentration: float
    q_defective: float
    sens_prior: tuple[float, float]
    spec_prior: tuple[float, float]
    karyotype_false_normal: float
    embryonic_sd: float = 0.0
    earlier_outcome_weight: float = 1.0
    second_trimester_loss_weight: float = 1.0
    fetal_heart_loss_weight: float = 1.0
    clinic_sens_prior: tuple[float, float] | None = None
    clinic_spec_prior: tuple[float, float] | None = None
    grid_size: int = DEFAULT_GRID_SIZE
    sens_spec_nodes: int = DEFAULT_SENS_SPEC_NODES
    frailty_nodes: int = DEFAULT_FRAILTY_NODES
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
        if not self.embryonic_sd >= 0:
            problems.append("embryonic_sd must be >= 0")
        if not 0 <= self.earlier_outcome_weight <= 1:
            problems.append("earlier_outcome_weight must be in [0, 1]")
        for name in ("second_trimester_loss_weight", "fetal_heart_loss_weight"):
            if not 0 <= getattr(self, name) <= 5:
                problems.append(f"{name} must be in [0, 5]")
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
        for k in ("clinic_sens_prior", "clinic_spec_prior"):
            if d[k] is not None:
                d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RiskParams:
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known}
        kw["age_coef"] = tuple(float(x) for x in kw["age_coef"])
        kw["sens_prior"] = tuple(float(x) for x in kw["sens_prior"])  # type: ignore[assignment]
        kw["spec_prior"] = tuple(float(x) for x in kw["spec_prior"])  # type: ignore[assignment]
        for k in ("clinic_sens_prior", "clinic_spec_prior"):
            if kw.get(k) is not None:
                kw[k] = tuple(float(x) for x in kw[k])
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
    """The calibrated parameters shipped with the package (``risk/params.json``).

    Examples
    --------
    >>> shipped_params().model_version
    '2026.12-4'
    """
    text = resources.files("decidua.risk").joinpath(_PARAMS_FILE).read_text(encoding="utf-8")
    return RiskParams.from_dict(json.loads(text))


def shipped_draws(params: RiskParams | None = None) -> tuple[RiskParams, ...]:
    """The fixed parameter draws shipped with the package (``risk/param_draws.json``).

    Each draw replaces the calibrated fields of ``params`` (default :func:`shipped_params`)
    with one draw from the calibration's Laplace approximation. Empty when no draws are
    shipped (the interval then holds the woman's uncertainty only).

    Examples
    --------
    >>> len(shipped_draws())
    40
    """
    base = params if params is not None else shipped_params()
    res = resources.files("decidua.risk").joinpath(_DRAWS_FILE)
    if not res.is_file():
        return ()
    data = json.loads(res.read_text(encoding="utf-8"))
    if data.get("model_version") != base.model_version:
        raise ModelError(f"parameter draws are for model {data.get('model_version')!r}, "
                         f"not {base.model_version!r}")
    out = []
    for d in data["draws"]:
        kw = dict(d)
        if "age_coef" in kw:
            kw["age_coef"] = tuple(float(x) for x in kw["age_coef"])
        out.append(replace(base, **kw))
    return tuple(out)


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class Evidence:
    """Counts that summarise a woman's evidence (sufficient statistics).

    ``n_biopsy_abnormal`` / ``n_biopsy_normal`` count every used call; the ``*_clinic``
    counts say how many of them were typed clinic calls (scored with the clinic-call
    accuracy priors). The ``*_earlier`` counts hold the outcomes before the last run of
    identical outcomes (losses, or live births) that precedes the next pregnancy; they
    enter the likelihood with the weight :attr:`RiskParams.earlier_outcome_weight`
    (model 2026.12-2). The other counts are that last run (bare counts of losses are all
    in it).

    Examples
    --------
    >>> Evidence(n_loss=2, n_loss_karyotype_abnormal=1, n_loss_earlier=1).n_losses_total
    4
    """

    n_loss: int = 0  # losses without an informative karyotype
    n_loss_karyotype_abnormal: int = 0
    n_loss_karyotype_normal: int = 0
    n_live_births: int = 0
    n_biopsy_abnormal: int = 0
    n_biopsy_normal: int = 0
    n_loss_earlier: int = 0
    n_loss_karyotype_normal_earlier: int = 0
    n_live_births_earlier: int = 0
    n_biopsy_abnormal_clinic: int = 0  # of the biopsy counts: typed clinic calls
    n_biopsy_normal_clinic: int = 0
    # Reported (all such losses, any karyotype; docs/risk-model.md, "Gestation at loss"):
    n_loss_second_trimester: int = 0  # losses at >= 12 completed weeks (RCOG 2023)
    n_loss_after_heart_activity: int = 0  # first-trimester losses after fetal heart activity
    n_preterm_births: int = 0  # live births before 37 weeks (PregnancyRecord.preterm); unused
    # Scored (model 2026.12-3): of the untested losses (``n_loss`` / ``n_loss_earlier``), how
    # many were second-trimester losses or first-trimester losses after fetal heart activity.
    n_loss_second_trimester_untested: int = 0
    n_loss_second_trimester_untested_earlier: int = 0
    n_loss_after_heart_untested: int = 0
    n_loss_after_heart_untested_earlier: int = 0

    @property
    def n_losses_total(self) -> int:
        return (self.n_loss + self.n_loss_karyotype_abnormal + self.n_loss_karyotype_normal
                + self.n_loss_earlier + self.n_loss_karyotype_normal_earlier)

    @property
    def n_live_births_total(self) -> int:
        return self.n_live_births + self.n_live_births_earlier

    def after_losses(self, k: int) -> Evidence:
        """The evidence after ``k`` further (untested) losses: if the last run was of live
        births, it becomes earlier evidence and the new losses start the last run.

        Examples
        --------
        >>> e = Evidence(n_loss_earlier=3, n_live_births=1).after_losses(1)
        >>> (e.n_loss, e.n_live_births, e.n_loss_earlier, e.n_live_births_earlier)
        (1, 0, 3, 1)
        """
        if k <= 0:
            return self
        recent_losses = self.n_loss + self.n_loss_karyotype_abnormal + self.n_loss_karyotype_normal
        if self.n_live_births and not recent_losses:
            return replace(self, n_loss=k, n_live_births=0,
                           n_live_births_earlier=self.n_live_births_earlier + self.n_live_births)
        return replace(self, n_loss=self.n_loss + k)


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
        an abnormal pregnancy-tissue karyotype is evidence for the embryonic route. The
        sequence is read in order (records by their ``order``): the last run of identical
        outcomes (losses or live births) goes to the full-weight counts, everything before
        it to the ``*_earlier`` counts.

    Returns
    -------
    Evidence
        Counts (biopsy fields zero).

    Raises
    ------
    InputError
        Negative count, non-integer count, or unknown outcome.

    Examples
    --------
    >>> e = encode_history(["live_birth", "miscarriage", "ectopic"])
    >>> e.n_loss, e.n_live_births_earlier
    (1, 1)
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
    items = list(history)
    if items and all(isinstance(x, PregnancyRecord) for x in items):
        items = sorted(items, key=lambda x: x.order)
    # Informative outcomes in order: ("loss", karyotype, kind) or ("birth", None, "").
    # kind: "late" (second trimester), "heart" (first trimester after fetal heart
    # activity) or "" (earlier, or not known).
    seq: list[tuple[str, KaryotypeResult | None, str]] = []
    n_second = n_heart = n_preterm = 0
    for i, item in enumerate(items):
        karyotype = KaryotypeResult.NOT_TESTED
        kind = ""
        if isinstance(item, PregnancyRecord):
            outcome = item.outcome
            karyotype = item.karyotype
            g = item.gestation_weeks
            if (outcome is Outcome.MISCARRIAGE and g is not None
                    and g >= SECOND_TRIMESTER_WEEKS):
                n_second += 1
                kind = "late"
            elif outcome is Outcome.MISCARRIAGE and item.fetal_heart_activity:
                n_heart += 1
                kind = "heart"
            if item.preterm:
                n_preterm += 1
        else:
            outcome = _parse_outcome(item, i)
        if outcome in LOSS_OUTCOMES:
            seq.append(("loss", karyotype, kind))
        elif outcome is Outcome.LIVE_BIRTH:
            seq.append(("birth", None, ""))
        # ectopic, molar, termination, ongoing, stillbirth: no information in the model
        # (ESHRE 2022: not pregnancy losses); they neither count nor break a run.
    # The last run of identical outcomes before the next pregnancy counts fully; earlier
    # outcomes are down-weighted (Kolte et al. 2021; Egerup et al. 2016).
    start = len(seq)
    while start > 0 and seq[start - 1][0] == (seq[-1][0] if seq else ""):
        start -= 1
    c = {"n_loss": 0, "n_loss_karyotype_abnormal": 0, "n_loss_karyotype_normal": 0,
         "n_live_births": 0, "n_loss_earlier": 0, "n_loss_karyotype_normal_earlier": 0,
         "n_live_births_earlier": 0, **dict.fromkeys(LOSS_KIND_KEYS, 0)}
    for j, (what, karyotype, kind) in enumerate(seq):
        suffix = "" if j >= start else "_earlier"
        if what == "birth":
            c["n_live_births" + suffix] += 1
        elif karyotype is KaryotypeResult.ABNORMAL:
            # explained by its embryo: a constant likelihood factor wherever it stands
            c["n_loss_karyotype_abnormal"] += 1
        elif karyotype is KaryotypeResult.NORMAL:
            # the karyotype is the stronger information: no gestation weight
            c["n_loss_karyotype_normal" + suffix] += 1
        else:
            c["n_loss" + suffix] += 1
            if kind == "late":
                c["n_loss_second_trimester_untested" + suffix] += 1
            elif kind == "heart":
                c["n_loss_after_heart_untested" + suffix] += 1
    return Evidence(**c, n_loss_second_trimester=n_second, n_loss_after_heart_activity=n_heart,
                    n_preterm_births=n_preterm)


def _evidence_named(ev: Evidence, n_abn: int, n_norm: int, n_abn_k: int, n_norm_k: int
                    ) -> list[tuple[str, Any]]:
    """The count columns of one woman's evidence, named as :meth:`RiskModel.predict_many`
    keeps them (``n_abn`` / ``n_norm``: computed calls; ``*_k``: typed clinic calls)."""
    return [
        ("n_losses", ev.n_loss), ("n_live_births", ev.n_live_births),
        ("n_biopsy_abnormal", n_abn), ("n_biopsy_normal", n_norm),
        ("n_loss_karyotype_abnormal", ev.n_loss_karyotype_abnormal),
        ("n_loss_karyotype_normal", ev.n_loss_karyotype_normal),
        *[(k, getattr(ev, k)) for k in EARLIER_KEYS],
        ("n_biopsy_abnormal_clinic", n_abn_k), ("n_biopsy_normal_clinic", n_norm_k),
        *[(k, getattr(ev, k)) for k in LOSS_KIND_KEYS],
    ]


def _call_and_source(b: Any, i: int) -> tuple[DecidualCall | None, str]:
    """One biopsy's call and its source (``"computed"`` or ``"clinic"``); ``(None, _)`` for
    a biopsy that gives no evidence (no call, or taken on treatment)."""
    source = "computed"
    call: Any = b
    if isinstance(b, tuple) and len(b) == 2:
        call, source = b
    elif isinstance(b, dict):
        call, source = b.get("call"), b.get("source") or "computed"
    elif hasattr(b, "clinic_call") and hasattr(b, "on_treatment"):
        if b.clinic_call is None or b.on_treatment:
            return None, source
        call = b.clinic_call
        source = getattr(b, "call_source", None) or "computed"
    if source not in ("computed", "clinic"):
        raise InputError("biopsy call source must be 'computed' or 'clinic'",
                         column="biopsies", row=i + 1, value=source)
    if isinstance(call, str):
        try:
            call = DecidualCall(call.strip().lower())
        except ValueError:
            call = None
    if call not in (DecidualCall.ABNORMAL, DecidualCall.NORMAL):
        raise InputError("biopsy call must be 'normal' or 'abnormal'", column="biopsies",
                         row=i + 1, value=b)
    return call, source


def encode_biopsies_by_source(biopsies: Iterable[DecidualCall | str | Any]
                              ) -> tuple[int, int, int, int]:
    """Count abnormal and normal calls per source: computed (or unknown) and typed clinic.

    Parameters
    ----------
    biopsies
        As for :func:`encode_biopsies`; besides, ``(call, source)`` pairs, mappings with
        ``call`` and ``source``, and records with a ``call_source`` attribute (the
        screening issue hands each biopsy's call with its source, ``"computed"`` or
        ``"clinic"``).

    Returns
    -------
    tuple of int
        ``(computed abnormal, computed normal, clinic abnormal, clinic normal)``.

    Examples
    --------
    >>> encode_biopsies_by_source(["abnormal", ("normal", "clinic"),
    ...                            {"call": "abnormal", "source": "clinic"}])
    (1, 0, 1, 1)
    """
    if isinstance(biopsies, str | bytes):
        raise InputError("biopsies must be a list of calls, not a string", column="biopsies",
                         value=biopsies)
    out = [0, 0, 0, 0]
    for i, b in enumerate(biopsies):
        call, source = _call_and_source(b, i)
        if call is None:
            continue
        out[(2 if source == "clinic" else 0) + (0 if call is DecidualCall.ABNORMAL else 1)] += 1
    return out[0], out[1], out[2], out[3]


def encode_biopsies(biopsies: Iterable[DecidualCall | str | Any]) -> tuple[int, int]:
    """Count abnormal and normal biopsy calls (all sources together).

    Parameters
    ----------
    biopsies
        :class:`~decidua.domain.DecidualCall`, the strings ``"normal"`` / ``"abnormal"``, or
        :class:`~decidua.domain.BiopsyRecord` (its ``clinic_call``; biopsies without a call or
        taken on treatment are skipped, as they say nothing about the untreated cycle).
        :func:`encode_biopsies_by_source` keeps the sources apart (the predictor uses it).

    Returns
    -------
    tuple of int
        ``(n_abnormal, n_normal)``.

    Examples
    --------
    >>> encode_biopsies(["abnormal", "normal", "normal"])
    (1, 2)
    """
    a, n, ak, nk = encode_biopsies_by_source(biopsies)
    return a + ak, n + nk


def validate_age(age: Any) -> float:
    """Check a maternal age (years) and return it as float.

    Examples
    --------
    >>> validate_age("34.5")
    34.5
    """
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
    """Share of the predicted loss probability carried by each route (sums to 1).

    ``embryonic`` is the expected share of a next loss that is embryonic (chiefly
    chromosomal); ``non_embryonic`` is the rest: every cause not explained by the embryo
    (antiphospholipid syndrome, uterine and parental causes, an endometrial defect, unknown)
    unless the record has excluded them. ``endometrial`` is the old name of
    ``non_embryonic`` (model 2026.11-1), kept for one version.

    Examples
    --------
    >>> c = Components(embryonic=0.4, non_embryonic=0.6)
    >>> c.endometrial, sorted(c.to_dict())
    (0.6, ['embryonic', 'endometrial', 'non_embryonic'])
    """

    embryonic: float
    non_embryonic: float

    @property
    def endometrial(self) -> float:
        """Deprecated alias of :attr:`non_embryonic` (kept for one version)."""
        return self.non_embryonic

    def to_dict(self) -> dict[str, float]:
        return {"embryonic": self.embryonic, "non_embryonic": self.non_embryonic,
                "endometrial": self.non_embryonic}


@dataclass(frozen=True)
class RiskEstimate:
    """Predicted probability that the next pregnancy ends in a loss.

    Attributes
    ----------
    p_loss
        Posterior mean loss probability of the next pregnancy (calibrated parameters).
    interval
        95% interval of the woman's loss probability including parameter uncertainty
        (:data:`INTERVAL_MEANING`).
    components
        Embryonic vs non-embryonic share of ``p_loss``.
    interval_fixed_parameters
        The 95% credible interval with the calibrated parameters held fixed (the woman's
        own uncertainty only; the v1 interval).
    p_loss_parameter_interval
        The interval's parameter part: 2.5% and 97.5% of ``p_loss`` over the parameter
        draws (how much the estimate itself moves with the calibration's uncertainty).
    n_parameter_draws
        Number of parameter draws pooled in ``interval`` (0: none shipped).
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

    Examples
    --------
    >>> r = default_model().predict(30, 0)
    >>> r.interval[0] < r.p_loss < r.interval[1], r.n_parameter_draws
    (True, 40)
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
    interval_fixed_parameters: tuple[float, float] = (float("nan"), float("nan"))
    p_loss_parameter_interval: tuple[float, float] = (float("nan"), float("nan"))
    n_parameter_draws: int = 0
    interval_meaning: str = INTERVAL_MEANING
    label: str = RESEARCH_USE_LABEL

    def to_dict(self) -> dict[str, Any]:
        return {
            "p_loss": self.p_loss,
            "sd": self.sd,
            "interval": [self.interval[0], self.interval[1]],
            "interval_meaning": self.interval_meaning,
            "interval_fixed_parameters": [self.interval_fixed_parameters[0],
                                          self.interval_fixed_parameters[1]],
            "p_loss_parameter_interval": [self.p_loss_parameter_interval[0],
                                          self.p_loss_parameter_interval[1]],
            "n_parameter_draws": self.n_parameter_draws,
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

    Examples
    --------
    >>> o = default_model().biopsy_outlook(34, 3)
    >>> o.if_normal.p_loss < o.now.p_loss < o.if_abnormal.p_loss
    True

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

    ``lower`` / ``upper`` bound the 95% interval of each woman's loss probability (NaN when
    intervals were not asked for); ``sd`` is its posterior standard deviation with the
    calibrated parameters.

    Examples
    --------
    >>> r = default_model().predict_many([30.0, 35.0], 1, interval=None)
    >>> len(r), list(r.to_frame().columns)[:2]
    (2, ['p_loss', 'lower'])
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
            "non_embryonic_share": 1.0 - self.embryonic_share,
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
    """Prior mass of each grid cell under Beta(a, b) (CDF differences; exact for any a, b).

    Examples
    --------
    >>> w = beta_grid_weights(np.linspace(0, 1, 5), 2.0, 2.0)
    >>> round(float(w.sum()), 12), w.round(3).tolist()
    (1.0, [0.156, 0.344, 0.344, 0.156])
    """
    x = np.asarray(grid_edges, dtype=np.float64)
    # the Beta CDF as scipy.stats.beta.cdf computes it (0 / 1 outside the open support)
    cdf = np.where(x <= 0, 0.0, np.where(x >= 1, 1.0, special.betainc(a, b, np.clip(x, 0, 1))))
    w = np.diff(cdf)
    w = np.clip(w, 0.0, None)
    return w / w.sum()


def beta_nodes(a: float, b: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes in probability space mapped through the Beta(a, b) quantile.

    Returns nodes ``x`` and weights ``w`` with ``sum(w * f(x)) ~= E[f(X)]``, X ~ Beta(a, b).

    Examples
    --------
    >>> x, w = beta_nodes(5.0, 2.0, 12)
    >>> round(float(np.sum(w * x)), 3)   # mean of Beta(5, 2) = 5/7
    0.714
    """
    u, w = np.polynomial.legendre.leggauss(n)
    u = 0.5 * (u + 1.0)
    return special.betaincinv(a, b, u), 0.5 * w  # the Beta quantile (scipy.stats.beta.ppf)


class RiskModel:
    """The two-route recurrence-risk model.

    Parameters
    ----------
    params
        Hyper-parameters; default the shipped calibrated file.
    draws
        Parameter draws pooled into the 95% interval; ``None`` uses the shipped draws when
        ``params`` are the shipped parameters, otherwise none.

    Examples
    --------
    >>> m = RiskModel()
    >>> r = m.predict(34, 3)
    >>> round(r.components.embryonic + r.components.non_embryonic, 12)
    1.0
    """

    def __init__(self, params: RiskParams | None = None,
                 draws: Sequence[RiskParams] | None = None) -> None:
        self.params = params if params is not None else shipped_params()
        p = self.params
        g = int(p.grid_size)
        self.edges = np.linspace(0.0, 1.0, g + 1)
        self.theta = 0.5 * (self.edges[:-1] + self.edges[1:])
        self.prior = beta_grid_weights(self.edges, *p.theta_ab)
        self.log_prior = np.log(np.clip(self.prior, 1e-300, None))
        k = int(p.frailty_nodes) if p.embryonic_sd > 0 else 1
        z, wz = np.polynomial.hermite_e.hermegauss(k)
        self.z = z
        self.z_weights = wz / wz.sum()
        # Joint prior over (z, theta): shape (K, G).
        self.log_joint_prior = np.log(self.z_weights)[:, None] + self.log_prior[None, :]
        self._nodes: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None
        self._nodes = None  # sens/spec quadrature, built on first use
        self._biopsy_cache: dict[tuple[int, int], np.ndarray] = {}
        if draws is None:
            try:
                shipped = shipped_params()
            except Exception:  # pragma: no cover - broken install
                shipped = None
            draws = shipped_draws(p) if shipped is not None and p == shipped else ()
        self._draw_params = tuple(draws)
        self._draw_models: list[RiskModel] | None = None

    @property
    def model_version(self) -> str:
        return self.params.model_version

    @property
    def draws(self) -> tuple[RiskParams, ...]:
        """Parameter draws pooled into the interval (may be empty)."""
        return self._draw_params

    def _draw_model_list(self) -> list[RiskModel]:
        if self._draw_models is None:
            self._draw_models = [RiskModel(d, draws=()) for d in self._draw_params]
        return self._draw_models

    # -- pieces ------------------------------------------------------------------------
    def _logit_e0(self, age: np.ndarray | float) -> np.ndarray:
        a = np.clip(np.asarray(age, dtype=float), *AGE_CURVE_RANGE)
        z = (a - AGE_CENTRE) / AGE_SCALE
        return np.polynomial.polynomial.polyval(z, np.asarray(self.params.age_coef))

    def embryonic_by_frailty(self, age: np.ndarray | float) -> np.ndarray:
        """Embryonic-route loss probability at each frailty node: shape ``age.shape + (K,)``."""
        eta = self._logit_e0(age)
        return special.expit(np.asarray(eta)[..., None] + self.params.embryonic_sd * self.z)

    def embryonic(self, age: np.ndarray | float) -> np.ndarray:
        """Population-average embryonic-route loss probability at ``age`` (mean over z)."""
        return self.embryonic_by_frailty(age) @ self.z_weights

    def population_risk(self, age: np.ndarray | float) -> np.ndarray:
        """Loss probability of a pregnancy of a woman with no history (prior mean)."""
        e = self.embryonic_by_frailty(age)
        tq = self.params.theta_mean * self.params.q_defective
        return (e + (1 - e) * tq) @ self.z_weights

    def _nodes_for(self, source: str):
        p = self.params
        sens = p.sens_prior
        spec = p.spec_prior
        if source == "clinic":
            sens = p.clinic_sens_prior or sens
            spec = p.clinic_spec_prior or spec
        n = int(p.sens_spec_nodes)
        return beta_nodes(*sens, n), beta_nodes(*spec, n)

    def _source_loglik(self, source: str, n_abnormal: int, n_normal: int) -> np.ndarray:
        key = (source, int(n_abnormal), int(n_normal))
        cached = self._biopsy_cache.get(key)
        if cached is not None:
            return cached
        if key[1:] == (0, 0):
            out = np.zeros_like(self.theta)
        else:
            (s, ws), (c, wc) = self._nodes_for(source)
            # p_abn[i, j, g] = s_i * theta_g + (1 - c_j) * (1 - theta_g)
            p_abn = (s[:, None, None] * self.theta[None, None, :]
                     + (1 - c)[None, :, None] * (1 - self.theta)[None, None, :])
            p_abn = np.clip(p_abn, 1e-300, 1 - 1e-16)
            ll = key[1] * np.log(p_abn) + key[2] * np.log1p(-p_abn)
            ll += np.log(ws)[:, None, None] + np.log(wc)[None, :, None]
            # The call is assumed better than chance: the (s, c) prior is truncated to
            # s + c > 1, so that every accuracy in the prior makes an abnormal call more
            # likely the higher theta (model v2; with the untruncated prior many abnormal
            # calls could be "explained" by poor specificity and an extra one lower theta).
            better = (s[:, None] + c[None, :]) > 1.0
            ll = np.where(better[:, :, None], ll, -np.inf)
            out = special.logsumexp(ll.reshape(-1, self.theta.size), axis=0)
        self._biopsy_cache[key] = out
        return out

    def biopsy_loglik(self, n_abnormal: int, n_normal: int, n_abnormal_clinic: int = 0,
                      n_normal_clinic: int = 0) -> np.ndarray:
        """Log-likelihood over the theta grid of biopsy calls, accuracy integrated out.

        The first two counts are calls of the computed (or unknown) source, the last two
        typed clinic calls; each source's sensitivity / specificity is integrated out over
        its own prior (independent sources).
        """
        out = self._source_loglik("computed", n_abnormal, n_normal)
        if n_abnormal_clinic or n_normal_clinic:
            out = out + self._source_loglik("clinic", n_abnormal_clinic, n_normal_clinic)
        return out

    # -- inference ---------------------------------------------------------------------
    def _effective_counts(self, n_loss: Any, n_lb: Any, n_knorm: Any,
                          earlier: dict[str, np.ndarray] | None,
                          kinds: dict[str, np.ndarray] | None) -> tuple[Any, Any, Any]:
        """Effective numbers of untested losses, live births and euploid losses (powers of
        their likelihood factors): outcomes before the last run count
        ``earlier_outcome_weight``; of the untested losses, a first-trimester one after
        fetal heart activity counts ``fetal_heart_loss_weight`` (model 2026.12-3). A
        second-trimester one counts 1 here; its excess enters as a theta tilt within each
        frailty stratum (:meth:`_late_excess`, model 2026.12-4)."""
        p = self.params
        wgt = float(p.earlier_outcome_weight)
        if kinds:
            dh = float(p.fetal_heart_loss_weight) - 1.0
            zero = 0
            n_loss = n_loss + dh * kinds.get("n_loss_after_heart_untested", zero)
            if earlier is not None:
                earlier = dict(earlier)
                earlier["n_loss_earlier"] = (
                    earlier.get("n_loss_earlier", zero)
                    + dh * kinds.get("n_loss_after_heart_untested_earlier", zero))
        if earlier is not None and wgt > 0:
            # Power likelihood: an earlier outcome is worth ``wgt`` of one in the last run.
            n_loss = n_loss + wgt * earlier.get("n_loss_earlier", 0)
            n_lb = n_lb + wgt * earlier.get("n_live_births_earlier", 0)
            n_knorm = n_knorm + wgt * earlier.get("n_loss_karyotype_normal_earlier", 0)
        return n_loss, n_lb, n_knorm

    def _late_excess(self, kinds: dict[str, np.ndarray] | None, n: int,
                     has_earlier: bool = True) -> np.ndarray | None:
        """Power of the second-trimester tilt per row: ``(second_trimester_loss_weight - 1)``
        times the untested second-trimester losses (those before the last run weighted
        ``earlier_outcome_weight``); None when no row has one (model 2026.12-4)."""
        if not kinds:
            return None
        late = kinds.get("n_loss_second_trimester_untested")
        late_e = kinds.get("n_loss_second_trimester_untested_earlier")
        if not ((late is not None and np.any(late)) or (late_e is not None and np.any(late_e))):
            return None
        p = self.params
        d2 = float(p.second_trimester_loss_weight) - 1.0
        wgt = float(p.earlier_outcome_weight) if has_earlier else 0.0
        out = np.zeros(n)
        if late is not None:
            out = out + late
        if late_e is not None and wgt > 0:
            out = out + wgt * late_e
        out = d2 * out
        return out if np.any(out) else None

    def _late_tilt_basis(self, uh: np.ndarray) -> np.ndarray:
        """Per distinct history age, ``log h(theta)``: ``(U, G)``. Second-trimester losses
        are mostly euploid (docs/risk-model.md, "2026.12-4"), so the excess of an untested
        one over a first-trimester loss is scored with the euploid-loss factor
        ``h = ebar_h m + (1 - ebar_h) theta q`` (population-average embryonic risk at that
        age, ``m`` = ``karyotype_false_normal``), applied within each frailty stratum: the
        frailty marginal stays the first-trimester history's, so the embryonic part of
        ``p_loss`` is unchanged and the theta part rises (model 2026.12-4)."""
        p = self.params
        ebar = self.embryonic(uh)[:, None]
        tq = (self.theta * p.q_defective)[None, :]
        return np.log(ebar * p.karyotype_false_normal + (1 - ebar) * tq)

    def _history_basis(self, uh: np.ndarray) -> np.ndarray:
        """Per distinct history age: the log likelihood factors of one untested loss, one
        live birth and one euploid loss over the flattened (z, theta) grid, ``(U, 3, K*G)``
        (as :meth:`_log_posterior` adds them)."""
        p = self.params
        kk, gg = self.log_joint_prior.shape
        tq = self.theta * p.q_defective
        eh = self.embryonic_by_frailty(uh)  # (U, K)
        pi = eh[:, :, None] + (1 - eh)[:, :, None] * tq[None, None, :]
        ebar = (eh @ self.z_weights)[:, None, None]
        m = p.karyotype_false_normal
        knorm = np.broadcast_to(np.log(ebar * m + (1 - ebar) * tq[None, None, :]),
                                (uh.shape[0], kk, gg))
        return np.stack([np.log(pi), np.log1p(-pi), knorm], axis=1).reshape(
            uh.shape[0], 3, kk * gg)

    def _log_posterior(
        self,
        hist_age: np.ndarray,
        n_loss: np.ndarray,
        n_knorm: np.ndarray,
        n_lb: np.ndarray,
        n_babn: np.ndarray,
        n_bnorm: np.ndarray,
        n_kabn: np.ndarray | None = None,
        earlier: dict[str, np.ndarray] | None = None,
        kinds: dict[str, np.ndarray] | None = None,
    ) -> np.ndarray:
        """Unnormalised log posterior over the (z, theta) grid: shape ``(rows, K, G)``.

        ``hist_age`` is the representative age of the previous pregnancies
        (:func:`history_age`). ``earlier`` holds the ``*_earlier`` counts (outcomes before
        the last run), which enter with weight ``earlier_outcome_weight``. ``kinds`` holds
        the :data:`LOSS_KIND_KEYS` subsets of the untested losses, which enter with power
        ``second_trimester_loss_weight`` / ``fetal_heart_loss_weight`` instead of 1.
        """
        p = self.params
        n = hist_age.shape[0]
        kk, gg = self.log_joint_prior.shape
        lp = np.broadcast_to(self.log_joint_prior, (n, kk, gg)).copy()
        if n_kabn is None:
            n_kabn = np.zeros(n, dtype=np.int64)
        n_loss, n_lb, n_knorm = self._effective_counts(n_loss, n_lb, n_knorm, earlier, kinds)
        if np.any(n_loss) or np.any(n_lb) or np.any(n_knorm) or np.any(n_kabn):
            tq = self.theta * p.q_defective
            uh, hidx = np.unique(hist_age, return_inverse=True)
            hidx = hidx.reshape(-1)
            eh = self.embryonic_by_frailty(uh)  # (U, K)
            pi = eh[:, :, None] + (1 - eh)[:, :, None] * tq[None, None, :]  # (U, K, G)
            if np.any(n_loss):
                lp += n_loss[:, None, None] * np.log(pi)[hidx]
            if np.any(n_lb):
                lp += n_lb[:, None, None] * np.log1p(-pi)[hidx]
            m = p.karyotype_false_normal
            rows = np.flatnonzero(n_knorm)
            if rows.size:
                # A euploid loss informs theta only: its factor uses the population-average
                # embryonic risk at that age, so it does not lower the frailty z (which
                # would make a euploid loss *better* news than an untested one, against
                # the clinic series). Model v2 choice, documented in docs/risk-model.md.
                ebar = (eh @ self.z_weights)[hidx[rows]][:, None, None]
                lp[rows] += n_knorm[rows][:, None, None] * np.log(
                    ebar * m + (1 - ebar) * tq[None, None, :])
            # A loss with an abnormal karyotype is explained by that embryo: its factor is
            # held constant in theta *and* z (model v2), so it neither moves theta nor
            # raises the embryonic frailty. Clinic series report a better prognosis after
            # an aneuploid than after a euploid loss (Ogasawara et al. 2000, to verify),
            # which a frailty update would contradict.
        if np.any(n_babn) or np.any(n_bnorm):
            pairs = np.stack([n_babn, n_bnorm], axis=1)
            uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
            table = np.stack([self.biopsy_loglik(a, b) for a, b in uniq])
            lp += table[inv.reshape(-1)][:, None, :]
        return lp

    def _posterior_weights(self, hist_age: np.ndarray, counts: dict[str, np.ndarray]
                           ) -> np.ndarray:
        """Posterior weights over (z, theta): shape (rows, K, G), each row summing to 1.

        The history (losses, live births, karyotypes) updates (z, theta) jointly and
        exactly. A biopsy call informs theta only, **within each frailty stratum**: the
        frailty marginal stays the history's (``P(z | history)``) and each stratum's
        conditional theta posterior is multiplied by the calls' likelihood. This is a
        modelling choice: exact joint updating would let an abnormal call *lower* the risk
        of a woman with many losses (the call re-attributes her losses from the embryonic
        frailty to theta; up to 0.014 in model 2026.12-1), which no clinic would accept from
        an abnormal test. With it, an abnormal call always raises and a normal call always
        lowers the estimate (the integrated call likelihood rises with theta because the
        priors have E[s] > 1 - E[c]).
        """
        none = np.zeros_like(counts["n_losses"])
        lp = self._log_posterior(
            hist_age, counts["n_losses"], counts["n_loss_karyotype_normal"],
            counts["n_live_births"], none, none, counts["n_loss_karyotype_abnormal"],
            earlier={k: counts[k] for k in EARLIER_KEYS if k in counts},
            kinds={k: counts[k] for k in LOSS_KIND_KEYS if k in counts},
        )
        lp -= lp.max(axis=(1, 2), keepdims=True)
        w = np.exp(lp, out=lp)
        w /= w.sum(axis=(1, 2), keepdims=True)
        excess = self._late_excess({k: counts[k] for k in LOSS_KIND_KEYS if k in counts},
                                   w.shape[0])
        if excess is not None:
            # Second-trimester excess: a theta tilt within each frailty stratum, which keeps
            # P(z | history) of the first-trimester history (model 2026.12-4).
            pz = w.sum(axis=2, keepdims=True)
            uh, hidx = np.unique(hist_age, return_inverse=True)
            lt = excess[:, None] * self._late_tilt_basis(uh)[hidx.reshape(-1)]
            lt = np.exp(lt - lt.max(axis=1, keepdims=True))[:, None, :]
            w = w * lt
            w *= pz / np.maximum(w.sum(axis=2, keepdims=True), 1e-300)
        bcols = _biopsy_columns(counts)
        if any(np.any(c) for c in bcols):
            pz = w.sum(axis=2, keepdims=True)
            pairs = np.stack(bcols, axis=1)
            uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
            table = np.stack([self.biopsy_loglik(*row) for row in uniq])
            lb = table[inv.reshape(-1)]
            lb = np.exp(lb - lb.max(axis=1, keepdims=True))[:, None, :]
            w = w * lb
            w *= pz / np.maximum(w.sum(axis=2, keepdims=True), 1e-300)
        return w

    @staticmethod
    def _validate_counts(ages: np.ndarray, named: list[tuple[str, Any]]) -> dict[str, np.ndarray]:
        n = ages.shape[0]
        if not np.all(np.isfinite(ages)) or np.any((ages < MIN_AGE) | (ages > MAX_AGE)):
            bad = np.flatnonzero(~np.isfinite(ages) | (ages < MIN_AGE) | (ages > MAX_AGE))
            raise InputError(f"age must be between {MIN_AGE:g} and {MAX_AGE:g} years",
                             column="age", row=int(bad[0]) + 1, value=float(ages[bad[0]]))
        problems = []
        counts = {}
        for name, val in named:
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
        return counts

    @staticmethod
    def _patterns(ages: np.ndarray, counts: dict[str, np.ndarray]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Distinct evidence patterns: (history-age steps, index of first row, inverse)."""
        n = ages.shape[0]
        hist = counts.get(HISTORY_AGE_KEY)
        hist = history_age(ages) if hist is None else hist
        h_steps = np.rint(hist * HISTORY_AGE_STEPS_PER_YEAR).astype(np.int64)
        cols = [h_steps] + [counts[k] for k in sorted(counts) if k != HISTORY_AGE_KEY]
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
        return h_steps, first, inverse.reshape(-1)

    def _summaries(self, ages: np.ndarray, counts: dict[str, np.ndarray], chunk_size: int,
                   want_cdf: bool) -> dict[str, np.ndarray]:
        """Per-woman point summaries (and per-pattern conditional CDFs when asked)."""
        n = ages.shape[0]
        h_steps, first, inverse = self._patterns(ages, counts)
        u = first.shape[0]
        kk, gg = self.log_joint_prior.shape
        pz = np.empty((u, kk))      # P(z_k | data)
        m1 = np.empty((u, kk))      # E[theta 1{z_k}]
        m2 = np.empty((u, kk))      # E[theta^2 1{z_k}]
        th_cdf = np.empty((u, gg))  # marginal theta CDF
        cdf = np.empty((u, kk, gg + 1)) if want_cdf else None
        uc = {k: v[first] for k, v in counts.items()}
        hu = h_steps[first] / HISTORY_AGE_STEPS_PER_YEAR
        step = max(1, chunk_size // max(kk, 1))
        for start in range(0, u, step):
            sl = slice(start, min(start + step, u))
            w = self._posterior_weights(hu[sl], {k: v[sl] for k, v in uc.items()})
            pz[sl] = w.sum(axis=2)
            m1[sl] = w @ self.theta
            m2[sl] = w @ self.theta**2
            th_cdf[sl] = np.cumsum(w.sum(axis=1), axis=1)
            if cdf is not None:
                cdf[sl, :, 0] = 0.0
                np.cumsum(w, axis=2, out=cdf[sl, :, 1:])
        q = self.params.q_defective
        e = self.embryonic_by_frailty(ages)  # (n, K)
        pzn, m1n, m2n = pz[inverse], m1[inverse], m2[inverse]
        emb = np.sum(e * pzn, axis=1)
        p_loss = emb + q * np.sum((1 - e) * m1n, axis=1)
        second = np.sum(e**2 * pzn + 2 * q * e * (1 - e) * m1n + q**2 * (1 - e) ** 2 * m2n,
                        axis=1)
        out = {"p_loss": p_loss, "embryonic": emb, "e": e, "inverse": inverse,
               "theta_mean": np.sum(m1n, axis=1),
               "sd": np.sqrt(np.maximum(second - p_loss**2, 0.0)),
               "theta_cdf": th_cdf, "n": np.array(n)}
        if cdf is not None:
            out["cdf"] = cdf
        return out

    def _point_summaries(self, ages: np.ndarray, counts: dict[str, np.ndarray],
                         chunk_size: int) -> dict[str, np.ndarray]:
        """Per-woman point summaries, fast: the history posterior is computed once per
        distinct history and the biopsy calls enter by one matrix product per moment.

        Same quantities as :meth:`_summaries` (the biopsy tilt is within each frailty
        stratum, so each stratum's moments are ratios of ``sum_g w(k, g) B(g) theta^j``).
        """
        n = ages.shape[0]
        kk, gg = self.log_joint_prior.shape
        hist = counts.get(HISTORY_AGE_KEY)
        hist = history_age(ages) if hist is None else hist
        h_steps = np.rint(hist * HISTORY_AGE_STEPS_PER_YEAR).astype(np.int64)
        ekeys = [k for k in EARLIER_KEYS if k in counts]
        kkeys = [k for k in LOSS_KIND_KEYS if k in counts]
        hfirst, hinv = _unique_rows([h_steps, counts["n_losses"], counts["n_live_births"],
                                     counts["n_loss_karyotype_normal"],
                                     counts["n_loss_karyotype_abnormal"],
                                     *[counts[k] for k in ekeys], *[counts[k] for k in kkeys]])
        bcols = _biopsy_columns(counts)
        bfirst, binv = _unique_rows(bcols)
        buniq = np.stack([c[bfirst] for c in bcols], axis=1)
        # Patterns sorted by history age, so that those sharing one age are a slice.
        order = np.argsort(h_steps[hfirst], kind="stable")
        hfirst = hfirst[order]
        rank = np.empty_like(order)
        rank[order] = np.arange(order.shape[0])
        hinv = rank[hinv]
        hs = h_steps[hfirst]
        nh = hfirst.shape[0]
        f = hfirst
        a, lb, kn = self._effective_counts(
            counts["n_losses"][f], counts["n_live_births"][f],
            counts["n_loss_karyotype_normal"][f], {k: counts[k][f] for k in ekeys},
            {k: counts[k][f] for k in kkeys})
        coef = np.stack(np.broadcast_arrays(a, lb, kn), axis=1).astype(float)  # (Hu, 3)
        excess = self._late_excess({k: counts[k][f] for k in kkeys}, nh)
        # One matrix product per distinct history age: log posterior = prior + coef @ basis
        # (the same terms as _log_posterior; a loss with an abnormal karyotype is constant).
        uh_steps, starts = np.unique(hs, return_index=True)
        basis = self._history_basis(uh_steps / HISTORY_AGE_STEPS_PER_YEAR)
        tilt = (None if excess is None
                else self._late_tilt_basis(uh_steps / HISTORY_AGE_STEPS_PER_YEAR))
        b = np.stack([self.biopsy_loglik(*row) for row in buniq])  # (Bu, G)
        b = np.exp(b - b.max(axis=1, keepdims=True))
        # The three moments sum_g w B theta^j (j = 0, 1, 2) in one product.
        b3t = np.ascontiguousarray(
            np.stack([b, b * self.theta, b * self.theta**2], axis=1).reshape(-1, gg).T)
        nb3 = b3t.shape[1]
        prior = self.log_joint_prior.reshape(1, -1)
        pz = np.empty((nh, kk))
        sm = np.empty((nh, kk, nb3))
        # Blocks of patterns (sorted by history age): each block's log posterior is built
        # per history age by elementwise products (prior + coef @ basis), exponentiated and
        # reduced by one matrix product before the next block.
        block = 2048
        age_of = np.repeat(np.arange(uh_steps.shape[0]), np.diff([*starts.tolist(), nh]))
        for lo in range(0, nh, block):
            hi = min(lo + block, nh)
            w = np.empty((hi - lo, kk * gg))
            us = age_of[lo:hi]
            cuts = np.flatnonzero(np.diff(us)) + 1
            for a0, a1 in zip([0, *cuts.tolist()], [*cuts.tolist(), hi - lo], strict=True):
                u = us[a0]
                c = coef[lo + a0:lo + a1]
                wa = w[a0:a1]
                np.multiply(c[:, 0:1], basis[u, 0], out=wa)
                wa += c[:, 1:2] * basis[u, 1]
                wa += c[:, 2:3] * basis[u, 2]
            w += prior
            w -= w.max(axis=1, keepdims=True)
            np.exp(w, out=w)  # unnormalised: the moments below are ratios
            pz[lo:hi] = w.reshape(-1, kk, gg).sum(axis=2)
            if excess is not None and np.any(excess[lo:hi]):
                # Second-trimester excess: theta tilt within each frailty stratum (pz above
                # is the untilted one; the moments below are ratios within a stratum).
                lt = excess[lo:hi, None] * tilt[us]
                lt = np.exp(lt - lt.max(axis=1, keepdims=True))
                w = (w.reshape(-1, kk, gg) * lt[:, None, :]).reshape(-1, kk * gg)
            sm[lo:hi] = (w.reshape(-1, gg) @ b3t).reshape(-1, kk, nb3)
        sm = sm.reshape(nh, kk, -1, 3)
        pz /= pz.sum(axis=1, keepdims=True)
        rows, ks = hinv[:, None], np.arange(kk)[None, :]
        cols = binv[:, None]
        g3 = sm[rows, ks, cols]  # (n, K, 3)
        den = g3[..., 0]
        den = np.where(den > 0, den, 1.0)
        pzn = pz[hinv]
        m1n = pzn * g3[..., 1] / den
        m2n = pzn * g3[..., 2] / den
        q = self.params.q_defective
        e = self.embryonic_by_frailty(ages)
        emb = np.sum(e * pzn, axis=1)
        p_loss = emb + q * np.sum((1 - e) * m1n, axis=1)
        second = np.sum(e**2 * pzn + 2 * q * e * (1 - e) * m1n + q**2 * (1 - e) ** 2 * m2n,
                        axis=1)
        return {"p_loss": p_loss, "embryonic": emb, "e": e,
                "theta_mean": np.sum(m1n, axis=1),
                "sd": np.sqrt(np.maximum(second - p_loss**2, 0.0)), "n": np.array(n)}

    @staticmethod
    def _pi_cdf(t: np.ndarray, cdf: np.ndarray, inverse: np.ndarray, e: np.ndarray,
                q: np.ndarray) -> np.ndarray:
        """P(pi <= t) per woman (t: shape (n, j)) from per-pattern component CDFs.

        ``cdf``: (patterns, C, G + 1) cumulative posterior mass over theta cells of each
        component (a frailty node of one parameter set, already weighted); ``e``: (n, C)
        embryonic risk per woman and component; ``q``: (C,) q_defective per component.
        Mass is spread uniformly within a theta cell.
        """
        g = cdf.shape[2] - 1
        ee = e[:, None, :]
        th = (t[:, :, None] - ee) / ((1 - ee) * q[None, None, :])
        pos = np.clip(th, 0.0, 1.0) * g
        idx = np.minimum(pos.astype(np.int64), g - 1)
        frac = pos - idx
        rows = inverse[:, None, None]
        cs = np.arange(cdf.shape[1])[None, None, :]
        c0 = cdf[rows, cs, idx]
        c1 = cdf[rows, cs, idx + 1]
        return np.sum(c0 + frac * (c1 - c0), axis=2)

    def _interval(self, ages: np.ndarray, counts: dict[str, np.ndarray], chunk_size: int,
                  models: Sequence[RiskModel], iterations: int = 40) -> np.ndarray:
        """2.5% and 97.5% quantiles of pi pooled (equal weights) over ``models``: (n, 2).

        Bisection on the pooled CDF; all models share the theta grid and the evidence
        patterns, so their components are stacked and evaluated together.
        """
        alpha = (1 - CREDIBLE_LEVEL) / 2
        target = np.array([alpha, 1 - alpha])
        n = ages.shape[0]
        out = np.empty((n, 2))
        wm = 1.0 / len(models)
        for start in range(0, n, chunk_size):
            sl = slice(start, min(start + chunk_size, n))
            sub = {k: v[sl] for k, v in counts.items()}
            summs = [mdl._summaries(ages[sl], sub, chunk_size, want_cdf=True) for mdl in models]
            cdf = np.concatenate([sm["cdf"] for sm in summs], axis=1) * wm
            e = np.concatenate([sm["e"] for sm in summs], axis=1)
            q = np.concatenate([np.full(sm["e"].shape[1], mdl.params.q_defective)
                                for mdl, sm in zip(models, summs, strict=True)])
            inverse = summs[0]["inverse"]
            m = sl.stop - sl.start
            lo = np.zeros((m, 2))
            hi = np.ones((m, 2))
            for _ in range(iterations):
                mid = 0.5 * (lo + hi)
                below = self._pi_cdf(mid, cdf, inverse, e, q) < target[None, :]
                lo = np.where(below, mid, lo)
                hi = np.where(below, hi, mid)
            out[sl] = 0.5 * (lo + hi)
        return out

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
        interval: str | None = "full",
        history_age: Sequence[float] | np.ndarray | None = None,
        n_losses_earlier: Sequence[int] | np.ndarray | int = 0,
        n_live_births_earlier: Sequence[int] | np.ndarray | int = 0,
        n_loss_karyotype_normal_earlier: Sequence[int] | np.ndarray | int = 0,
        n_biopsy_abnormal_clinic: Sequence[int] | np.ndarray | int = 0,
        n_biopsy_normal_clinic: Sequence[int] | np.ndarray | int = 0,
        n_losses_second_trimester: Sequence[int] | np.ndarray | int = 0,
        n_losses_second_trimester_earlier: Sequence[int] | np.ndarray | int = 0,
        n_losses_after_heart_activity: Sequence[int] | np.ndarray | int = 0,
        n_losses_after_heart_activity_earlier: Sequence[int] | np.ndarray | int = 0,
        chunk_size: int = 8192,
    ) -> CohortRisk:
        """Score a cohort (vectorised; point estimates for 100,000 women in under a second).

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
        interval
            ``"full"`` (default): 95% interval pooled over the parameter draws;
            ``"fixed"``: with the calibrated parameters only; ``None``: point estimates
            only (``lower`` / ``upper`` are NaN; the fast path).
        history_age
            Age (years) at which each woman's previous pregnancies are scored, e.g. the
            mean of her real ages at their outcomes; default ``age - 2``
            (:func:`history_age`). Must lie between 12 and her current age.
        n_losses_earlier, n_live_births_earlier, n_loss_karyotype_normal_earlier
            Outcomes *before* the last run of identical outcomes (losses or live births)
            preceding the next pregnancy (:func:`encode_history` splits a sequence so);
            they count with weight ``earlier_outcome_weight``. The other counts are then
            that last run. Default 0 (every outcome in the last run).
        n_biopsy_abnormal_clinic, n_biopsy_normal_clinic
            Typed clinic calls, scored with the clinic-call accuracy priors
            (``clinic_sens_prior`` / ``clinic_spec_prior``); ``n_biopsy_abnormal`` /
            ``n_biopsy_normal`` are then the computed calls.
        n_losses_second_trimester, n_losses_after_heart_activity
            Of ``n_losses``: second-trimester losses (>= 12 weeks) and first-trimester losses
            after fetal heart activity, scored with ``second_trimester_loss_weight`` /
            ``fetal_heart_loss_weight`` (model 2026.12-3). The ``*_earlier`` variants are the
            same subsets of ``n_losses_earlier``. Default 0.
        chunk_size
            Rows processed at once (bounds memory).

        Returns
        -------
        CohortRisk

        Raises
        ------
        InputError
            Age outside 12-60, negative or non-integer counts, mismatched lengths.

        Examples
        --------
        >>> r = RiskModel().predict_many([25.0, 40.0], 2, interval=None)
        >>> bool(r.p_loss[1] > 2 * r.p_loss[0])
        True
        """
        if interval not in ("full", "fixed", None):
            raise InputError("interval must be 'full', 'fixed' or None", column="interval",
                             value=interval)
        ages = np.atleast_1d(np.asarray(age, dtype=float))
        counts = self._validate_counts(ages, [
            ("n_losses", n_losses), ("n_live_births", n_live_births),
            ("n_biopsy_abnormal", n_biopsy_abnormal), ("n_biopsy_normal", n_biopsy_normal),
            ("n_loss_karyotype_abnormal", n_loss_karyotype_abnormal),
            ("n_loss_karyotype_normal", n_loss_karyotype_normal),
            ("n_loss_earlier", n_losses_earlier),
            ("n_live_births_earlier", n_live_births_earlier),
            ("n_loss_karyotype_normal_earlier", n_loss_karyotype_normal_earlier),
            ("n_biopsy_abnormal_clinic", n_biopsy_abnormal_clinic),
            ("n_biopsy_normal_clinic", n_biopsy_normal_clinic),
            ("n_loss_second_trimester_untested", n_losses_second_trimester),
            ("n_loss_second_trimester_untested_earlier", n_losses_second_trimester_earlier),
            ("n_loss_after_heart_untested", n_losses_after_heart_activity),
            ("n_loss_after_heart_untested_earlier", n_losses_after_heart_activity_earlier),
        ])
        _check_loss_kinds(counts)
        n = ages.shape[0]
        if n == 0:
            empty = np.zeros(0)
            return CohortRisk(p_loss=empty, lower=empty, upper=empty, embryonic_share=empty,
                              theta_mean=empty, model_version=self.model_version, sd=empty)
        if history_age is not None:
            counts[HISTORY_AGE_KEY] = _check_history_age(history_age, ages)
        summ = self._point_summaries(ages, counts, chunk_size)
        p_loss = summ["p_loss"]
        if interval is None or n == 0:
            lower = upper = np.full(n, np.nan)
        else:
            models: list[RiskModel] = [self]
            if interval == "full":
                models += self._draw_model_list()
            qs = self._interval(ages, counts, chunk_size, models)
            lower = np.minimum(qs[:, 0], p_loss)
            upper = np.maximum(qs[:, 1], p_loss)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(p_loss > 0, summ["embryonic"] / p_loss, 0.0)
        return CohortRisk(
            p_loss=p_loss,
            lower=lower,
            upper=upper,
            embryonic_share=np.clip(share, 0.0, 1.0),
            theta_mean=summ["theta_mean"],
            model_version=self.model_version,
            sd=summ["sd"],
        )

    def _theta_quantiles(self, summ: dict[str, np.ndarray]) -> tuple[float, float]:
        alpha = (1 - CREDIBLE_LEVEL) / 2
        cdf = summ["theta_cdf"][summ["inverse"]]
        lo = float(self._quantile(cdf, alpha)[0])
        hi = float(self._quantile(cdf, 1 - alpha)[0])
        return lo, hi

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
        *,
        history_age: float | None = None,
    ) -> RiskEstimate:
        """Risk of losing the next pregnancy for one woman (see :func:`decidua.risk.predict`).

        ``history_age``: age at which her previous pregnancies are scored (default
        ``age - 2``); :func:`decidua.risk.predict_record` passes the mean of her real ages
        at their outcome dates.
        """
        a = validate_age(age)
        ev = encode_history(history)
        n_abn, n_norm, n_abn_k, n_norm_k = encode_biopsies_by_source(biopsies)
        # Evidence reports all calls (n_biopsy_*) and, of them, the typed clinic calls.
        ev = replace(ev, n_biopsy_abnormal=n_abn + n_abn_k, n_biopsy_normal=n_norm + n_norm_k,
                     n_biopsy_abnormal_clinic=n_abn_k, n_biopsy_normal_clinic=n_norm_k)
        ages = np.array([a])
        counts = self._validate_counts(ages, _evidence_named(ev, n_abn, n_norm, n_abn_k,
                                                             n_norm_k))
        if history_age is not None:
            counts[HISTORY_AGE_KEY] = _check_history_age([history_age], ages)
        summ = self._summaries(ages, counts, 8192, want_cdf=False)
        p = float(summ["p_loss"][0])
        emb = min(max(float(summ["embryonic"][0]) / p, 0.0), 1.0) if p > 0 else 0.0
        fixed = self._interval(ages, counts, 8192, [self])[0]
        draws = self._draw_model_list()
        full = self._interval(ages, counts, 8192, [self, *draws])[0] if draws else fixed
        if draws:
            pd_ = [float(d._summaries(ages, counts, 8192, want_cdf=False)["p_loss"][0])
                   for d in draws]
            p_par = tuple(float(x) for x in np.percentile(pd_, [2.5, 97.5]))
        else:
            p_par = (p, p)
        th_lo, th_hi = self._theta_quantiles(summ)
        return RiskEstimate(
            p_loss=p,
            interval=(float(min(full[0], p)), float(max(full[1], p))),
            components=Components(embryonic=emb, non_embryonic=1.0 - emb),
            model_version=self.model_version,
            age=a,
            evidence=ev,
            theta_mean=float(summ["theta_mean"][0]),
            theta_interval=(th_lo, th_hi),
            sd=float(summ["sd"][0]),
            interval_fixed_parameters=(float(min(fixed[0], p)), float(max(fixed[1], p))),
            p_loss_parameter_interval=(p_par[0], p_par[1]),
            n_parameter_draws=len(draws),
        )

    def biopsy_outlook(
        self,
        age: float,
        history: Sequence[Outcome | str | PregnancyRecord] | int = 0,
        biopsies: Iterable[DecidualCall | str | Any] = (),
    ) -> BiopsyOutlook:
        """What one more biopsy (from a new cycle) could change.

        The predictive probability that the next call is abnormal is the ratio of marginal
        likelihoods ``Z(data + abnormal) / Z(data)`` (theta, z, sensitivity and specificity
        integrated out), so the law of total variance holds exactly: the expected posterior
        variance after the biopsy never exceeds the current one (calibrated parameters).

        Returns
        -------
        BiopsyOutlook
        """
        a = validate_age(age)
        ev = encode_history(history)
        n_abn, n_norm, n_abn_k, n_norm_k = encode_biopsies_by_source(biopsies)
        steps = HISTORY_AGE_STEPS_PER_YEAR
        h = np.rint(history_age(a) * steps) / steps
        one = np.ones(1, dtype=np.int64)
        w = self._posterior_weights(np.array([h]), {
            k: int(v) * one for k, v in _evidence_named(ev, n_abn, n_norm, n_abn_k, n_norm_k)})[0]
        # Predictive of the next call within each stratum (sens/spec shared with the
        # earlier calls): Z(data + abnormal) / Z(data) on the theta grid.
        # the next biopsy gets a computed call
        l0 = self.biopsy_loglik(n_abn, n_norm, n_abn_k, n_norm_k)
        l1 = self.biopsy_loglik(n_abn + 1, n_norm, n_abn_k, n_norm_k)
        ratio = np.exp(l1 - l0)
        p_abn = float(np.sum(w * ratio[None, :]))
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
        *,
        history_age: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Posterior of ``theta`` on the grid (frailty integrated out): ``(theta, weights)``.

        The same posterior as :meth:`predict` uses (its ``theta_mean`` is this
        distribution's mean): the history updates (z, theta) jointly, then every biopsy call
        enters with the likelihood of its own source -- computed calls with
        ``sens_prior`` / ``spec_prior``, typed clinic calls with ``clinic_sens_prior`` /
        ``clinic_spec_prior`` -- within each frailty stratum. Until 3 Dec 2026 this
        method scored every call with the computed call's accuracy and updated (z, theta)
        jointly, so it disagreed with :meth:`predict` whenever clinic calls or a history
        were present.

        Examples
        --------
        >>> m = RiskModel()
        >>> th, w = m.posterior_theta(34, 3, [("abnormal", "clinic")])
        >>> abs(float(th @ w) - m.predict(34, 3, [("abnormal", "clinic")]).theta_mean) < 1e-9
        True
        """
        a = validate_age(age)
        ev = encode_history(history)
        n_abn, n_norm, n_abn_k, n_norm_k = encode_biopsies_by_source(biopsies)
        ages = np.array([a])
        counts = self._validate_counts(ages, _evidence_named(ev, n_abn, n_norm, n_abn_k,
                                                             n_norm_k))
        hist = (_default_history_age(ages) if history_age is None
                else _check_history_age([history_age], ages))
        steps = HISTORY_AGE_STEPS_PER_YEAR
        h = np.rint(hist * steps) / steps
        w = self._posterior_weights(h, counts)[0].sum(axis=0)
        return self.theta.copy(), w / w.sum()


_DEFAULT_MODEL: RiskModel | None = None


def default_model() -> RiskModel:
    """The model built from the shipped parameters and draws (cached).

    Examples
    --------
    >>> default_model() is default_model()
    True
    """
    global _DEFAULT_MODEL
    if _DEFAULT_MODEL is None:
        _DEFAULT_MODEL = RiskModel(shipped_params())
    return _DEFAULT_MODEL
