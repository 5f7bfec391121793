"""The timing reference: fitted once on a cohort, frozen, used to place new biopsies.

:class:`TimingReference` holds the settings, the fit (:meth:`TimingReference.fit`,
the ordering of :mod:`decidua.assays.timing.ordering`) and placement. Its
calibration is computed in :mod:`decidua.assays.timing.calibration`, its JSON
form in :mod:`decidua.assays.timing.persistence`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from decidua.assays.timing.calibration import TimingCalibration
from decidua.assays.timing.constants import (
    DEFAULT_AGGREGATE_WINDOW,
    DEFAULT_EUCLIDEAN_STOP,
    DEFAULT_FINAL,
    DEFAULT_GENE_WINDOW,
    DEFAULT_MAX_ITERATIONS,
    DEFAULT_N_SEEDS,
    DEFAULT_PATIENCE,
    DEFAULT_THRESHOLD_RULE,
    GENES,
    INTERVAL_LEVEL,
    MIN_NEW_BATCH_SIZE,
    MODEL_VERSION,
    OUT_OF_PHASE_QUANTILE,
    THRESHOLD_BOOTSTRAP,
    WINDOW_FLOOR,
    WINDOW_STEP,
)
from decidua.assays.timing.density import _aggregate, _densities_fixed, _gene_peak_times
from decidua.assays.timing.results import Placement, TimingFitResult
from decidua.assays.timing.state import THRESHOLD_BOOTSTRAP_LEVEL, TimingState
from decidua.assays.timing.validation import _validate_arrays, validate_timing_table
from decidua.errors import InputError, ModelError, Problem
from decidua.stats import Interval
from decidua.stats.calibration import platt_apply


def _provenance(seed: int | None) -> dict[str, Any]:
    """Versions and seed of a fit (the data hash is added by whoever knows the file)."""
    import numba

    from decidua import __version__

    return {
        "seed": seed,
        "model_version": MODEL_VERSION,
        "decidua_version": __version__,
        "numpy_version": np.__version__,
        "numba_version": numba.__version__,
    }


class TimingReference:
    """A fitted timing reference (EndoTime's training step), frozen once fitted.

    Parameters
    ----------
    genes
        Gene columns (ΔCt vs the reference gene, not inverted).
    gene_window, aggregate_window
        Initial window widths (EndoTime defaults 80/80); they shrink by
        ``WINDOW_STEP`` per iteration to ``WINDOW_FLOOR``.
    euclidean_stop
        Converged when successive orderings are this close (EndoTime ``euc``).
    batch_correct
        Shift each batch to a common grand mean (EndoTime's batch correction).
    max_iterations, patience, final
        Stop rule (see :meth:`fit` and docs/timing.md).
    threshold_rule
        ``"bagged"`` (default) or ``"segmented"`` (EndoTime's single fit).
    n_seeds
        Size of the seed ensemble (default ``DEFAULT_N_SEEDS``): the ordering is run
        with ``n_seeds`` seeds derived from the fit's seed (:func:`ensemble_seeds`)
        and each biopsy's time is averaged over them before ranking. ``1`` is a
        single fit.

    Examples
    --------
    Placing biopsies on the reference shipped with Decidua:

    >>> from decidua.assays.timing import load_default_reference, load_endotime_training_data
    >>> ref = load_default_reference()
    >>> placed = ref.place(load_endotime_training_data().iloc[:2])
    >>> placed.to_frame()[["ID", "estimated_lh_day", "interval_low", "interval_high"]].round(2)
           ID  estimated_lh_day  interval_low  interval_high
    0  15-074              7.01          5.83           7.44
    1  16-036              9.37          9.02          10.74
    >>> ref.summary()["asynchrony_threshold"]["level"]
    0.9

    Fitting one (a few seconds with the default seed ensemble; not run here):

    >>> data = load_endotime_training_data()
    >>> ref = TimingReference().fit(data, seed=1).calibrate(data)  # doctest: +SKIP
    """

    def __init__(
        self,
        genes: Sequence[str] = GENES,
        *,
        gene_window: int = DEFAULT_GENE_WINDOW,
        aggregate_window: int = DEFAULT_AGGREGATE_WINDOW,
        euclidean_stop: float = DEFAULT_EUCLIDEAN_STOP,
        batch_correct: bool = True,
        max_iterations: int = DEFAULT_MAX_ITERATIONS,
        patience: int = DEFAULT_PATIENCE,
        final: str = DEFAULT_FINAL,
        threshold_rule: str = DEFAULT_THRESHOLD_RULE,
        n_seeds: int = DEFAULT_N_SEEDS,
    ) -> None:
        if int(n_seeds) < 1:
            raise ValueError("n_seeds must be >= 1")
        if threshold_rule not in ("bagged", "segmented"):
            raise ValueError("threshold_rule must be 'bagged' or 'segmented'")
        if final not in ("average", "best", "last"):
            raise ValueError("final must be 'average', 'best' or 'last'")
        if gene_window % 2 or aggregate_window % 2:
            raise ValueError("window widths must be even")
        self.genes = tuple(genes)
        self.gene_window = int(gene_window)
        self.aggregate_window = int(aggregate_window)
        self.euclidean_stop = float(euclidean_stop)
        self.batch_correct = bool(batch_correct)
        self.max_iterations = int(max_iterations)
        self.patience = int(patience)
        self.final = final
        self.threshold_rule = threshold_rule
        self.n_seeds = int(n_seeds)
        self.result: TimingFitResult | None = None
        #: Fitted state (scaling, batch shifts, curves, time map, ...), or None.
        self.state: TimingState | None = None
        #: Leave-one-batch-out calibration from :meth:`calibrate`, or None.
        self.calibration: TimingCalibration | None = None
        #: Where the reference came from (data hash, seed, versions); JSON-ready.
        self.provenance: dict[str, Any] = {}

    # ---- fitting ---------------------------------------------------------------------

    def fit(
        self,
        df: pd.DataFrame,
        *,
        seed: int | np.random.Generator = 0,
        max_iterations: int | None = None,
        progress: Any = None,
        file: str | None = None,
    ) -> TimingReference:
        """Fit the reference on a cohort in EndoTime's layout.

        Parameters
        ----------
        df
            Columns ``ID``, ``BATCH``, ``LH`` and one ΔCt column per gene.
        seed
            Seed (or Generator) for the random steps (LH tie jitter, tie-breaking,
            threshold bootstrap). With ``n_seeds > 1`` the members are fitted with
            :func:`ensemble_seeds` ``(seed, n_seeds)`` (a Generator draws them) and
            ``seed`` orders the combined ranking's ties and draws the bootstrap.
        max_iterations
            Overrides the instance's cap.
        progress
            Optional callable ``progress(iteration, distance, gene_window)``.
        file
            File name for error messages.

        Returns
        -------
        TimingReference
            ``self``, with :attr:`result` set.

        Notes
        -----
        Stop rule: *converged* when the distance between successive orderings
        is <= ``euclidean_stop`` (EndoTime's rule); *oscillating* when the
        windows are at their floor and ``patience`` further orderings brought
        no new minimum distance; otherwise *cap reached* after
        ``max_iterations``. The final ordering is chosen by ``final``:
        ``"average"`` (default) ranks the mean time over all orderings computed
        at the window floor; ``"best"`` takes the ordering with the smallest
        distance; ``"last"`` is what EndoTime returns. Ties between biopsies
        peaking in the same bin are ordered at random (from ``seed``).

        Seed ensemble (``n_seeds > 1``, the default): the ordering above is run
        once per member seed; each biopsy's final time is averaged over the
        members and the means are ranked and spread over the LH range. Curves,
        asynchrony scores, threshold and estimated LH days are then computed from
        these combined times exactly as for a single run. ``stop_reason`` is the
        most common member reason and ``distances`` those of the first member
        (every member's reason and iteration count are stored in the reference).
        """
        from decidua.assays.timing.kernels import _loo_densities
        from decidua.assays.timing.ordering import (
            _curves,
            _even_ranks,
            _tent_lh_map,
            _with_pseudo,
            ensemble_seeds,
        )
        from decidua.assays.timing.threshold import bootstrap_thresholds, segmented_threshold

        data = validate_timing_table(df, self.genes, file=file)
        if data["BATCH"].isna().all():
            data["BATCH"] = "1"
        data["BATCH"] = data["BATCH"].astype(str)
        n = len(data)
        if n < self.gene_window + 2:
            raise ModelError(
                f"the cohort has {n} biopsies; at least {self.gene_window + 2} are needed "
                f"for a gene window of {self.gene_window}"
            )
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        cap = self.max_iterations if max_iterations is None else int(max_iterations)
        if cap < 1:
            raise ValueError("max_iterations must be >= 1")
        lh = data["LH"].to_numpy(float)
        inv = -data[list(self.genes)].to_numpy(float)
        mins, maxs = inv.min(axis=0), inv.max(axis=0)
        if np.any(maxs <= mins):
            raise ModelError("a gene has the same ΔCt in every biopsy; it cannot time biopsies")
        x = (inv - mins) / (maxs - mins)
        batches = data["BATCH"].astype(str).to_numpy()
        shifts: dict[str, float] = {}
        level = float(x.mean())
        if self.batch_correct:
            labels = list(dict.fromkeys(batches))
            means = {b: float(x[batches == b].mean()) for b in labels}
            level = max(means.values())
            shifts = {b: level - means[b] for b in labels}
            x = x + np.array([shifts[b] for b in batches])[:, None]

        grid = np.linspace(lh.min(), lh.max(), n)
        if self.n_seeds == 1:
            member_seeds: list[int | None] = [seed if isinstance(seed, int) else None]
            times, distances, stop = self._order(x, lh, rng, cap, progress)
            runs = [(times, distances, stop)]
        else:
            member_seeds = list(
                ensemble_seeds(seed, self.n_seeds)
                if isinstance(seed, int)
                else (int(v) for v in rng.integers(0, 2**32, self.n_seeds))
            )
            runs = [
                self._order(x, lh, np.random.default_rng(ms), cap, progress) for ms in member_seeds
            ]
            # combine: mean time per biopsy over the members, re-ranked (ties at random)
            mean_t = np.mean([r[0] for r in runs], axis=0)
            times = _even_ranks(mean_t, rng.random(n), grid)
            reasons = [r[2] for r in runs]
            # the most common member stop reason (first in member order on a tie)
            stop = max(dict.fromkeys(reasons), key=reasons.count)
            distances = runs[0][1]
        # the final windows are those used for the last ordering (longest member run)
        n_it = max(len(r[1]) for r in runs)
        final_gw = max(self.gene_window - WINDOW_STEP * (n_it - 1), WINDOW_FLOOR)
        final_aw = max(self.aggregate_window - WINDOW_STEP * (n_it - 1), WINDOW_FLOOR)

        # asynchrony (EndoTime uses the initial gene window for this)
        st, sx, pos = _with_pseudo(times, x, self.gene_window)
        med, dens = _loo_densities(st, sx, pos, self.gene_window)
        peaks = _gene_peak_times(med, dens)
        score = peaks.std(axis=1, ddof=1)
        single, psi = segmented_threshold(score)
        boot = bootstrap_thresholds(score, rng, THRESHOLD_BOOTSTRAP)
        threshold = float(np.median(boot)) if self.threshold_rule == "bagged" else single

        # estimated LH day
        order = np.argsort(times, kind="stable")
        elh_sorted = _tent_lh_map(n, lh)
        elh = np.empty(n)
        elh[order] = elh_sorted
        oop_days = float(np.quantile(np.abs(elh - lh), OUT_OF_PHASE_QUANTILE))

        self.result = TimingFitResult(
            ids=tuple(data["ID"]),
            batch=tuple(batches),
            lh_day=lh,
            pseudotime=times,
            estimated_lh_day=elh,
            asynchrony_score=score,
            asynchronous=score > threshold,
            asynchrony_threshold=threshold,
            stop_reason=stop,
            distances=tuple(distances),
        )
        self.state = TimingState(
            scaling_min=mins,
            scaling_max=maxs,
            batch_shifts=shifts,
            batch_level=level,
            batch_sizes={b: int((batches == b).sum()) for b in dict.fromkeys(batches)},
            lh_range=(float(lh.min()), float(lh.max())),
            final_gene_window=final_gw,
            final_aggregate_window=final_aw,
            placement_curves=_curves(times, x, final_gw),
            asynchrony_curves=_curves(times, x, self.gene_window),
            time_map_pseudotime=times[order],
            time_map_lh_day=elh_sorted,
            threshold_psi=psi,
            threshold_segmented=single,
            threshold_bootstrap=Interval(
                estimate=float(np.median(boot)),
                low=float(np.quantile(boot, 0.05)),
                high=float(np.quantile(boot, 0.95)),
                level=THRESHOLD_BOOTSTRAP_LEVEL,
                method=f"{THRESHOLD_BOOTSTRAP} bootstrap resamples of the broken-stick fit",
            ),
            out_of_phase_days=oop_days,
            expression=x,
            seed=seed if isinstance(seed, int) else None,
            member_seeds=tuple(member_seeds),
            member_stop_reasons=tuple(r[2] for r in runs),
            member_iterations=tuple(len(r[1]) for r in runs),
            max_iterations_used=cap,
        )
        self.calibration = None
        self.provenance = _provenance(seed if isinstance(seed, int) else None)
        self.provenance["n_seeds"] = self.n_seeds
        self.provenance["member_seeds"] = member_seeds
        return self

    def _order(
        self,
        x: np.ndarray,
        lh: np.ndarray,
        rng: np.random.Generator,
        cap: int,
        progress: Any = None,
    ) -> tuple[np.ndarray, list[float], str]:
        """:func:`decidua.assays.timing.ordering.order` with this reference's settings."""
        from decidua.assays.timing.ordering import order

        return order(
            x,
            lh,
            rng,
            cap,
            gene_window=self.gene_window,
            aggregate_window=self.aggregate_window,
            euclidean_stop=self.euclidean_stop,
            patience=self.patience,
            final=self.final,
            progress=progress,
        )

    def _clone(self) -> TimingReference:
        """An unfitted reference with the same settings."""
        return TimingReference(
            self.genes,
            gene_window=self.gene_window,
            aggregate_window=self.aggregate_window,
            euclidean_stop=self.euclidean_stop,
            batch_correct=self.batch_correct,
            max_iterations=self.max_iterations,
            patience=self.patience,
            final=self.final,
            threshold_rule=self.threshold_rule,
            n_seeds=self.n_seeds,
        )

    def calibrate(
        self,
        df: pd.DataFrame,
        *,
        seed: int | None = None,
        progress: Any = None,
        file: str | None = None,
    ) -> TimingReference:
        """Calibrate the placement interval by leave-one-batch-out on the fitted cohort.

        For each qPCR batch, the reference is refitted (same settings and seed)
        on the other batches and the batch is placed on it as a new batch. Each
        held-out biopsy's score is the smallest central mass of its density
        (on a ``CALIBRATION_STEP`` grid) whose interval contains the full-cohort
        estimate. The stored mass level for a nominal level ``L`` is the
        split-conformal quantile of the scores (the ``ceil((n + 1) L)``-th
        smallest; Vovk et al. 2005, Lei et al. 2018), so placed intervals at
        that mass cover the full-fit time of about ``L`` of held-out biopsies.

        The same folds calibrate the out-of-phase probability: each held-out
        biopsy's raw out-of-phase mass (fold reference, the full reference's
        distance cut) is mapped to the full-cohort fit's out-of-phase call by
        Platt scaling (:func:`platt_fit`), stored with its raw and
        cross-validated (map fitted on the other folds) reliability, Brier
        score and expected calibration error (:func:`reliability`).

        Parameters
        ----------
        df
            The cohort the reference was fitted on (same IDs, same order).
        seed
            Seed of the fold fits (default: the seed of the reference fit).
        progress
            Optional callable ``progress(fold, n_folds)``.
        file
            File name for error messages.

        Returns
        -------
        TimingReference
            ``self``, with :attr:`calibration` set.

        Raises
        ------
        """
        from decidua.assays.timing.calibration import calibrate

        self.calibration = calibrate(self, df, seed=seed, progress=progress, file=file)
        return self

    @property
    def interval_mass_level(self) -> float:
        """Central density mass used for the placement interval (calibrated if available)."""
        if self.calibration is None:
            return INTERVAL_LEVEL
        return float(self.calibration.mass_level)

    @property
    def out_of_phase_map(self) -> tuple[float, float] | None:
        """Platt map ``(a, b)`` of the out-of-phase probability, or None (raw mass)."""
        if self.calibration is None or self.calibration.out_of_phase is None:
            return None
        a, b = self.calibration.out_of_phase.coef
        return float(a), float(b)

    @property
    def interval_mass_level_unknown_batch(self) -> float:
        """Density mass for biopsies of a small unknown batch (before the ± SD widening)."""
        if self.calibration is None:
            return INTERVAL_LEVEL
        return float(self.calibration.mass_level_unknown_batch)

    def _fitted(self) -> TimingState:
        """The fitted state (raises ModelError before a fit or load)."""
        self._require()
        assert self.state is not None
        return self.state

    def _require(self) -> TimingFitResult:
        if self.result is None:
            raise ModelError("the timing reference has not been fitted or loaded")
        return self.result

    # ---- accessors -------------------------------------------------------------------

    @property
    def asynchrony_threshold(self) -> float:
        return self._require().asynchrony_threshold

    @property
    def batch_shifts(self) -> dict[str, float]:
        return dict(self._fitted().batch_shifts)

    @property
    def lh_range(self) -> tuple[float, float]:
        self._require()
        return tuple(self._fitted().lh_range)  # type: ignore[return-value]

    @property
    def expression(self) -> np.ndarray:
        """(n, genes) scaled, batch-corrected −ΔCt of the reference cohort (fit order)."""
        return self._fitted().expression

    @property
    def threshold_interval(self) -> Interval:
        """The asynchrony threshold used, with the 5th-95th percentiles of its bootstrap."""
        st = self._fitted()
        bt = st.threshold_bootstrap
        return Interval(
            self.asynchrony_threshold, bt.low, bt.high, level=bt.level, method=bt.method
        )

    def summary(self) -> dict[str, Any]:
        """The fit in a few numbers: biopsies, stop rule, threshold (estimate / low / high /
        level), out-of-phase cut and the placement interval's mass level."""
        res = self._require()
        return {
            "n_biopsies": len(res.ids),
            "stop_reason": res.stop_reason,
            "iterations": res.iterations,
            "n_seeds": self.n_seeds,
            "asynchrony_threshold": self.threshold_interval.summary(),
            "n_asynchronous": int(res.asynchronous.sum()),
            "out_of_phase_days": self._fitted().out_of_phase_days,
            "interval_level": INTERVAL_LEVEL,
            "interval_mass_level": self.interval_mass_level,
            "interval_calibrated": self.calibration is not None,
        }

    def estimates(self) -> pd.DataFrame:
        """Per-biopsy estimates of the reference cohort."""
        return self._require().to_frame()

    def curves(self) -> pd.DataFrame:
        """Per-gene smooth curves (scaled, batch-corrected −ΔCt) over pseudotime."""
        c = self._fitted().placement_curves
        out = {"pseudotime": c.time, "estimated_lh_day": self.to_lh_day(c.time)}
        for j, g in enumerate(self.genes):
            out[f"{g}_mean"] = c.mean[:, j]
            out[f"{g}_sd"] = c.sd[:, j]
        return pd.DataFrame(out)

    def to_lh_day(self, pseudotime: np.ndarray | float) -> np.ndarray:
        """Map pseudotime to estimated LH day (clamped at the reference's ends)."""
        st = self._fitted()
        return np.interp(pseudotime, st.time_map_pseudotime, st.time_map_lh_day)

    def scale(self, df: pd.DataFrame) -> np.ndarray:
        """Invert and scale a validated table's ΔCt with the reference's scaling."""
        return self._scale_array(df[list(self.genes)].to_numpy(float))

    def _scale_array(self, dct: np.ndarray) -> np.ndarray:
        st = self._fitted()
        mins, maxs = st.scaling_min, st.scaling_max
        return (-dct - mins) / (maxs - mins)

    # ---- placement -------------------------------------------------------------------

    def place(
        self,
        new_df: pd.DataFrame,
        *,
        strict: bool = False,
        file: str | None = None,
    ) -> Placement:
        """Place new biopsies on the frozen reference (the reference never changes).

        Parameters
        ----------
        new_df
            ``ID``, optional ``BATCH``, optional ``LH``, one ΔCt column per gene.
        strict
            Refuse biopsies from batches the reference does not know.
        file
            File name for error messages.

        Returns
        -------
        Placement

        Notes
        -----
        Batch rules: a batch in the reference uses its fitted shift. An unknown
        batch with at least ``MIN_NEW_BATCH_SIZE`` biopsies gets its own shift,
        bringing its grand mean to the reference level (EndoTime's correction,
        with the reference frozen). A smaller unknown batch gets no
        batch-specific shift: the median reference shift is used, a warning is
        issued and the interval is widened to cover the reference batches'
        shift spread (± one SD). With ``strict=True`` unknown batches are refused.

        The interval is a central part of the biopsy's aggregate density over
        time (EndoTime's own pseudo-likelihood curve, normalised), mapped to LH
        days and always holding the estimate. Its mass is
        :attr:`interval_mass_level`: calibrated by :meth:`calibrate` so that a
        nominal ``INTERVAL_LEVEL`` interval holds the full-cohort time of about
        that share of held-out biopsies, or ``INTERVAL_LEVEL`` itself
        (uncalibrated, conservative) for a reference without a calibration.
        """
        ids, lh, xs, widen, source, warn, shift_sd = self._prepare(new_df, strict, file)
        mass = self.interval_mass_level
        pt, _, btime, post = self._place_core(xs)
        lo, hi = self._interval(btime, post, mass)
        if widen.any():
            mass_u = self.interval_mass_level_unknown_batch
            lo[widen], hi[widen] = self._interval(btime[widen], post[widen], mass_u)
            for sgn in (-1.0, 1.0) if shift_sd > 0 else ():
                _, _, bt2, post2 = self._place_core(xs[widen] + sgn * shift_sd)
                lo2, hi2 = self._interval(bt2, post2, mass_u)
                lo[widen] = np.minimum(lo[widen], lo2)
                hi[widen] = np.maximum(hi[widen], hi2)
        elh = self.to_lh_day(pt)
        # the peak can sit in a thin tail of the mass at the ends of the cycle
        lo, hi = np.minimum(lo, elh), np.maximum(hi, elh)
        score = self._asynchrony(xs)
        oop = self._out_of_phase(btime, post, lh)
        oop_map = self.out_of_phase_map
        if oop_map is not None:
            oop = platt_apply(oop, oop_map)
        if not strict:
            for w in warn:
                warnings.warn(w, UserWarning, stacklevel=2)
        return Placement(
            ids=tuple(ids),
            lh_day=lh,
            pseudotime=pt,
            estimated_lh_day=elh,
            interval_low=lo,
            interval_high=hi,
            asynchrony_score=score,
            asynchronous=score > self.asynchrony_threshold,
            out_of_phase_probability=oop,
            batch_shift_source=tuple(source),
            warnings=tuple(warn),
            interval_calibrated=self.calibration is not None,
            out_of_phase_calibrated=oop_map is not None,
        )

    def _prepare(
        self, new_df: pd.DataFrame, strict: bool, file: str | None
    ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, list[str], list[str], float]:
        """Validate, scale and batch-shift new biopsies (the batch rules of :meth:`place`)."""
        st = self._fitted()
        ids, batch_list, lh, dct = _validate_arrays(new_df, self.genes, file, False, st.lh_range)
        n = len(ids)
        x = self._scale_array(dct)
        batches = np.array(batch_list if batch_list is not None else [""] * n, dtype=object)
        ref_shifts = st.batch_shifts
        default_shift, shift_sd = self._shift_stats()
        shift = np.zeros(n)
        source: list[str] = [""] * n
        widen = np.zeros(n, dtype=bool)
        warn: list[str] = []
        problems: list[Problem] = []
        for b in dict.fromkeys(batches):
            idx = np.flatnonzero(batches == b)
            if not self.batch_correct:
                src, s = "reference", 0.0
            elif b in ref_shifts:
                src, s = "reference", ref_shifts[b]
            elif strict:
                for i in idx:
                    problems.append(
                        Problem(
                            "batch is not in the reference (strict mode refuses unknown batches)",
                            file,
                            int(i) + 2,
                            "BATCH",
                            b if b else None,
                        )
                    )
                continue
            elif len(idx) >= MIN_NEW_BATCH_SIZE:
                src, s = "new batch", st.batch_level - float(x[idx].mean())
            else:
                src, s = "unknown (no shift)", default_shift
                widen[idx] = True
                label = f"batch {b!r}" if b else "biopsies without a batch"
                warn.append(
                    f"{label}: {len(idx)} biopsies (< {MIN_NEW_BATCH_SIZE}) from a batch the "
                    "reference does not know; placed without a batch-specific shift, "
                    "with a wider interval"
                )
            shift[idx] = s
            for i in idx:
                source[i] = src
        if problems:
            raise InputError(problems)
        return ids, lh, x + shift[:, None], widen, source, warn, shift_sd

    def _shift_stats(self) -> tuple[float, float]:
        """Shift for biopsies of a small unknown batch (median) and the shifts' SD."""
        ref_shifts = list(self._fitted().batch_shifts.values())
        default_shift = float(np.median(ref_shifts)) if ref_shifts else 0.0
        shift_sd = float(np.std(ref_shifts, ddof=1)) if len(ref_shifts) > 1 else 0.0
        return default_shift, shift_sd

    def _place_core(self, xs: np.ndarray):  # type: ignore[no-untyped-def]
        st = self._fitted()
        c = st.placement_curves
        dens = _densities_fixed(xs, c.mean, c.sd)
        btime, score = _aggregate(c.time, dens, st.final_aggregate_window)
        best = np.argmax(score, axis=1)
        pt = btime[np.arange(len(xs)), best]
        post = np.clip(score, 0, None)
        post = post / post.sum(axis=1, keepdims=True)
        return pt, dens, btime, post

    def _interval(
        self, btime: np.ndarray, post: np.ndarray, mass: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Central ``mass`` of each biopsy's density, in LH days."""
        cdf = np.cumsum(post, axis=1)
        a = (1 - mass) / 2
        lo_i = np.argmax(cdf >= a, axis=1)
        hi_i = np.argmax(cdf >= 1 - a, axis=1)
        rows = np.arange(len(post))
        return self.to_lh_day(btime[rows, lo_i]), self.to_lh_day(btime[rows, hi_i])

    def _out_of_phase(
        self, btime: np.ndarray, post: np.ndarray, lh: np.ndarray, cut: float | None = None
    ) -> np.ndarray:
        """Raw out-of-phase mass: density further than ``cut`` days from the LH day."""
        if cut is None:
            cut = self._fitted().out_of_phase_days
        elh = self.to_lh_day(btime)
        outside = np.abs(elh - lh[:, None]) > cut
        p = (post * outside).sum(axis=1)
        p[np.isnan(lh)] = np.nan
        return p

    def _asynchrony(self, xs: np.ndarray) -> np.ndarray:
        c = self._fitted().asynchrony_curves
        dens = _densities_fixed(xs, c.mean, c.sd)
        peaks = _gene_peak_times(c.time, dens)
        return peaks.std(axis=1, ddof=1)

    # ---- persistence -----------------------------------------------------------------


    def to_dict(self) -> dict[str, Any]:
        """Everything needed to place biopsies, as JSON-ready data."""
        from decidua.assays.timing.persistence import reference_to_dict

        return reference_to_dict(self)

    def save(self, path: str | Path) -> Path:
        """Write the reference as versioned JSON (a directory gets ``reference.json``)."""
        from decidua.assays.timing.persistence import save_reference

        return save_reference(self, path)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TimingReference:
        """Rebuild a reference saved by :meth:`to_dict`."""
        from decidua.assays.timing.persistence import reference_from_dict

        return reference_from_dict(cls, d)

    @classmethod
    def load(cls, path: str | Path) -> TimingReference:
        """Read a reference written by :meth:`save` (a file or a directory)."""
        from decidua.assays.timing.persistence import load_reference

        return load_reference(cls, path)
