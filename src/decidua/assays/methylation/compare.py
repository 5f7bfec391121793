"""Group comparison per region and a stemness-signature score per sample.

Group test
----------
For each region, sample ``i`` has ``y_i`` methylated out of ``n_i`` reads
(summed over the region's sites). Counts are modelled as beta-binomial,
``Var(y_i / n_i) = p (1 - p) (1 + (n_i - 1) φ) / n_i``, with one dispersion
``φ`` per region shared by both groups, as in DSS (Feng, Conneely & Wu,
Nucleic Acids Res 2014;42:e69; Park & Wu, Bioinformatics 2016;32:1446):

1. group means ``p_g`` = mean of the sample proportions;
2. a method-of-moments dispersion per region, shrunk on the log scale towards
   the across-region median with ``prior_df`` pseudo-degrees of freedom (an
   empirical-Bayes compromise in the spirit of DSS's log-normal prior);
3. a Wald statistic ``(p_1 - p_2) / sqrt(V_1 + V_2)`` with
   ``V_g = Σ_i p_g (1 - p_g)(1 + (n_i - 1) φ) / n_i / k_g²``, two-sided normal
   p-value, Benjamini–Hochberg FDR (statsmodels);
4. the matching Wald interval for the difference,
   ``(p_1 - p_2) ± z_{(1 + level) / 2} sqrt(V_1 + V_2)``, one
   :class:`decidua.stats.Interval` per region (:meth:`GroupComparison.interval`).
   With equal read depths, equal group sizes and a single region it is the
   normal-quantile version of Welch's interval on the sample proportions
   (``V_g`` is then exactly ``s_g² / k_g``); ``tests/assays/methylation/
   test_methylation_compare_interval.py`` checks that, and coverage on
   simulated data with known truth.

Stemness score
--------------
Lucas et al., Stem Cells 2016;34:346–356 found lower non-CpG methylation at
CA-rich motifs (enriched near telomeres) in endometrial stromal cells from
women with RPL. :func:`stemness_score` z-scores each region of a sample ×
region matrix against a reference group (e.g. controls) and averages the
z-scores, so 0 = typical of the reference and negative = loss of the
signature. The region set and context are the caller's choice (defaults in
:mod:`~decidua.assays.methylation.regions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from decidua.errors import InputError, ModelError
from decidua.stats import Interval

#: Pseudo-degrees of freedom of the dispersion prior (our tuning choice, not a
#: published number): the shrunk log-dispersion is the df-weighted mean of the
#: region's own estimate and the across-region median.
DEFAULT_PRIOR_DF = 4.0
#: Floor for dispersions on the log scale.
_PHI_FLOOR = 1e-6
#: Coverage of the difference intervals unless asked otherwise.
DEFAULT_LEVEL = 0.95
#: How the intervals are computed (the ``method`` of each :class:`~decidua.stats.Interval`).
INTERVAL_METHOD = "beta-binomial Wald (shrunk moment dispersion)"


@dataclass(frozen=True)
class GroupComparison:
    """Per-region test results (one row per region).

    ``difference_low`` / ``difference_high`` are the limits of the Wald interval for
    ``difference`` at ``level``; :meth:`interval` gives one region's as a
    :class:`decidua.stats.Interval`.
    """

    region: np.ndarray
    mean_1: np.ndarray
    mean_2: np.ndarray
    difference: np.ndarray
    dispersion: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    fdr: np.ndarray
    group_1: str
    group_2: str
    prior_df: float
    difference_low: np.ndarray
    difference_high: np.ndarray
    level: float = DEFAULT_LEVEL

    def interval(self, region: object) -> Interval:
        """The difference ``mean_1 - mean_2`` of one region with its interval.

        Parameters
        ----------
        region
            A region label (as in :attr:`region`).

        Raises
        ------
        KeyError
            If the region is not in the results.
        """
        hits = np.flatnonzero(self.region == region)
        if len(hits) == 0:
            raise KeyError(f"region {region!r} is not in the comparison")
        i = int(hits[0])
        return Interval(estimate=float(self.difference[i]), low=float(self.difference_low[i]),
                        high=float(self.difference_high[i]), level=self.level,
                        method=INTERVAL_METHOD)

    def intervals(self) -> tuple[Interval, ...]:
        """One :class:`~decidua.stats.Interval` per region, in :attr:`region` order."""
        return tuple(self.interval(r) for r in self.region)

    def summary(self) -> pd.DataFrame:
        """estimate / low / high / level of the difference per region."""
        return pd.DataFrame({
            "region": self.region,
            "estimate": self.difference,
            "low": self.difference_low,
            "high": self.difference_high,
            "level": self.level,
        })

    def to_frame(self) -> pd.DataFrame:
        """Results as a DataFrame sorted as given."""
        return pd.DataFrame({
            "region": self.region,
            f"mean_{self.group_1}": self.mean_1,
            f"mean_{self.group_2}": self.mean_2,
            "difference": self.difference,
            "dispersion": self.dispersion,
            "wald": self.statistic,
            "p_value": self.p_value,
            "fdr": self.fdr,
            "difference_low": self.difference_low,
            "difference_high": self.difference_high,
        })


def _moment_dispersion(y: np.ndarray, n: np.ndarray, groups: np.ndarray,
                       means: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-region method-of-moments dispersion and its residual df."""
    num = np.zeros(y.shape[1])
    den = np.zeros(y.shape[1])
    df = np.zeros(y.shape[1])
    for g, p in means.items():
        rows = groups == g
        k = n[rows] > 0
        kg = k.sum(axis=0)
        c = np.where(kg > 0, 1 - 1 / np.maximum(kg, 1), 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(k, y[rows] / np.where(k, n[rows], 1), 0.0)
            pq = p * (1 - p)
            r = np.where(k & (pq > 0), (frac - p) ** 2 / np.where(pq > 0, pq, 1), 0.0)
        nn = np.where(k, n[rows], 1)
        num += np.where(k, r - c / nn, 0.0).sum(axis=0)
        den += np.where(k, c * (nn - 1) / nn, 0.0).sum(axis=0)
        df += np.maximum(kg - 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
    return np.clip(phi, 0.0, 1.0), df


def compare_groups(
    methylated: pd.DataFrame,
    total: pd.DataFrame,
    groups: pd.Series | Sequence[str],
    *,
    group_1: str | None = None,
    group_2: str | None = None,
    prior_df: float = DEFAULT_PRIOR_DF,
    level: float = DEFAULT_LEVEL,
) -> GroupComparison:
    """Beta-binomial Wald test per region between two groups of samples.

    Parameters
    ----------
    methylated, total
        Sample × region matrices of methylated reads and total reads
        (same index and columns).
    groups
        Group label per sample (aligned with the rows).
    group_1, group_2
        The two labels to compare (default: sorted unique labels); the
        difference is ``mean_1 - mean_2``.
    prior_df
        Weight of the shared dispersion prior (see module docstring).
    level
        Coverage of the intervals for the differences (0-1).

    Returns
    -------
    GroupComparison

    Examples
    --------
    Two samples per group at one region, 100 reads each; the groups mirror each other
    (0.6, 0.7 vs 0.4, 0.3), so the interval is 0.3 ± 1.96 × √(0.005/2 + 0.005/2), the
    Welch standard error of the sample proportions:

    >>> import pandas as pd
    >>> samples = ["a1", "a2", "b1", "b2"]
    >>> y = pd.DataFrame({"r1": [60.0, 70.0, 30.0, 40.0]}, index=samples)
    >>> n = pd.DataFrame({"r1": [100.0] * 4}, index=samples)
    >>> res = compare_groups(y, n, ["a", "a", "b", "b"])
    >>> iv = res.interval("r1")
    >>> round(iv.estimate, 3), round(iv.low, 3), round(iv.high, 3), iv.level
    (0.3, 0.161, 0.439, 0.95)
    """
    if not 0.0 < level < 1.0:
        raise InputError(f"interval level must be between 0 and 1, got {level!r}")
    if methylated.shape != total.shape or not methylated.index.equals(total.index) or not (
        methylated.columns.equals(total.columns)
    ):
        raise InputError("methylated and total matrices must have the same samples and regions")
    labels = np.asarray(groups.reindex(methylated.index) if isinstance(groups, pd.Series)
                        else list(groups), dtype=object)
    if len(labels) != methylated.shape[0]:
        raise InputError("one group label per sample is needed")
    uniq = sorted({str(x) for x in labels})
    g1 = group_1 or (uniq[0] if uniq else "")
    g2 = group_2 or (uniq[1] if len(uniq) > 1 else "")
    if g1 not in uniq or g2 not in uniq or g1 == g2:
        raise InputError(f"need two groups to compare; found {uniq}")
    y = methylated.to_numpy(dtype=np.float64)
    n = total.to_numpy(dtype=np.float64)
    if (y < 0).any() or (n < y).any():
        raise InputError("counts must satisfy 0 <= methylated <= total")
    code = np.where(labels == g1, 1, np.where(labels == g2, 2, 0))
    means: dict[int, np.ndarray] = {}
    counts: dict[int, np.ndarray] = {}
    for g in (1, 2):
        rows = code == g
        k = n[rows] > 0
        counts[g] = k.sum(axis=0)
        if rows.sum() < 2:
            raise ModelError(f"group {(g1, g2)[g - 1]!r} needs at least two samples")
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(k, y[rows] / np.where(k, n[rows], 1), 0.0)
            means[g] = np.where(counts[g] > 0, frac.sum(axis=0) / np.maximum(counts[g], 1),
                                np.nan)
    phi_raw, df = _moment_dispersion(y, n, code, means)
    positive = phi_raw[phi_raw > 0]
    prior = float(np.median(positive)) if len(positive) else _PHI_FLOOR
    log_phi = (df * np.log(np.maximum(phi_raw, _PHI_FLOOR)) + prior_df * np.log(prior)) / (
        df + prior_df
    )
    phi = np.exp(log_phi)
    var = np.zeros(y.shape[1])
    for g in (1, 2):
        rows = code == g
        p = means[g]
        k = n[rows] > 0
        nn = np.where(k, n[rows], 1)
        term = np.where(k, (1 + (nn - 1) * phi) / nn, 0.0).sum(axis=0)
        var += p * (1 - p) * term / np.maximum(counts[g], 1) ** 2
    diff = means[1] - means[2]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, diff / np.sqrt(np.where(var > 0, var, 1)), 0.0)
    z = np.where(np.isnan(diff), np.nan, z)
    half = ndtri(0.5 + level / 2) * np.sqrt(var)
    low = np.where(var > 0, diff - half, diff)
    high = np.where(var > 0, diff + half, diff)
    from statsmodels.stats.multitest import multipletests

    pval = 2 * ndtr(-np.abs(z))
    fdr = np.full_like(pval, np.nan)
    ok = ~np.isnan(pval)
    if ok.any():
        fdr[ok] = multipletests(pval[ok], method="fdr_bh")[1]
    return GroupComparison(
        region=np.asarray(methylated.columns, dtype=object),
        mean_1=means[1], mean_2=means[2], difference=diff, dispersion=phi,
        statistic=z, p_value=pval, fdr=fdr, group_1=g1, group_2=g2, prior_df=prior_df,
        difference_low=low, difference_high=high, level=level,
    )


@dataclass(frozen=True)
class StemnessScore:
    """Per-sample signature score (mean z-score over regions)."""

    sample: np.ndarray
    score: np.ndarray
    n_regions: np.ndarray
    reference_samples: tuple[str, ...]

    def to_frame(self) -> pd.DataFrame:
        """Scores as a DataFrame."""
        return pd.DataFrame({"sample": self.sample, "score": self.score,
                             "n_regions": self.n_regions})


def stemness_score(
    matrix: pd.DataFrame,
    reference: Sequence[str],
    *,
    regions: Sequence[str] | None = None,
    min_sd: float = 1e-3,
) -> StemnessScore:
    """Score samples by their mean region z-score against a reference group.

    Parameters
    ----------
    matrix
        Sample × region methylation levels (e.g. CA methylation from
        :func:`~decidua.assays.methylation.summaries.region_matrix`).
    reference
        Samples defining "typical" (≥ 2), e.g. controls.
    regions
        Regions to use (default: all columns).
    min_sd
        Floor for the reference standard deviation.

    Returns
    -------
    StemnessScore
        Negative scores mean less methylation than the reference — the
        direction Lucas et al. 2016 associated with RPL.
    """
    ref = [s for s in reference if s in matrix.index]
    if len(ref) < 2:
        raise ModelError("the reference group needs at least two samples present in the matrix")
    cols = list(regions) if regions is not None else list(matrix.columns)
    missing = [c for c in cols if c not in matrix.columns]
    if missing:
        raise InputError(f"regions not in the matrix: {', '.join(map(str, missing[:5]))}")
    m = matrix[cols].to_numpy(dtype=np.float64)
    r = matrix.loc[ref, cols].to_numpy(dtype=np.float64)
    mu = np.nanmean(r, axis=0)
    sd = np.maximum(np.nanstd(r, axis=0, ddof=1), min_sd)
    z = (m - mu) / sd
    n = np.sum(~np.isnan(z), axis=1)
    with np.errstate(invalid="ignore"):
        score = np.where(n > 0, np.nansum(z, axis=1) / np.maximum(n, 1), np.nan)
    return StemnessScore(np.asarray(matrix.index, dtype=object), score, n, tuple(ref))


__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_PRIOR_DF",
    "GroupComparison",
    "StemnessScore",
    "compare_groups",
    "stemness_score",
]
