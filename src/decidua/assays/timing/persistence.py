"""The JSON form of a timing reference (format ``MODEL_VERSION``; older versions read).

The layout is fixed: the shipped default reference and every saved reference
use it (``docs/timing.md``, ``reference/endotime/README.md``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from decidua.assays.timing.calibration import TimingCalibration
from decidua.assays.timing.constants import (
    INTERVAL_LEVEL,
    MIN_NEW_BATCH_SIZE,
    MODEL_VERSION,
    READABLE_MODEL_VERSIONS,
    THRESHOLD_BOOTSTRAP,
)
from decidua.assays.timing.results import TimingFitResult
from decidua.assays.timing.state import THRESHOLD_BOOTSTRAP_LEVEL, TimingState, WindowCurves
from decidua.errors import InputError
from decidua.stats import Interval

if TYPE_CHECKING:
    from decidua.assays.timing.reference import TimingReference


def reference_to_dict(ref: TimingReference) -> dict[str, Any]:
    """Everything needed to place biopsies, as JSON-ready data.

    Examples
    --------
    >>> from decidua.assays.timing import load_default_reference
    >>> d = reference_to_dict(load_default_reference())
    >>> d["model_version"], len(d["cohort"]["ID"])
    ('decidua.timing.reference/3', 257)
    """
    from decidua import __version__

    res = ref._require()
    st = ref._fitted()
    bt = st.threshold_bootstrap
    return {
        "model_version": MODEL_VERSION,
        "decidua_version": __version__,
        "method": "EndoTime-compatible ordering (Lipecki et al., Hum Reprod 2022)",
        "genes": list(ref.genes),
        "settings": {
            "gene_window": ref.gene_window,
            "aggregate_window": ref.aggregate_window,
            "euclidean_stop": ref.euclidean_stop,
            "batch_correct": ref.batch_correct,
            "max_iterations": ref.max_iterations,
            "patience": ref.patience,
            "final": ref.final,
            "threshold_rule": ref.threshold_rule,
            "seed": st.seed,
            "n_seeds": ref.n_seeds,
            "member_seeds": list(st.member_seeds),
            "final_gene_window": st.final_gene_window,
            "final_aggregate_window": st.final_aggregate_window,
            "min_new_batch_size": MIN_NEW_BATCH_SIZE,
            "interval_level": INTERVAL_LEVEL,
            "interval_mass_level": ref.interval_mass_level,
            "interval_mass_level_unknown_batch": ref.interval_mass_level_unknown_batch,
        },
        "provenance": dict(ref.provenance),
        "calibration": None if ref.calibration is None else ref.calibration.to_dict(),
        "fit": {
            **res.to_dict(),
            "member_stop_reasons": list(st.member_stop_reasons),
            "member_iterations": list(st.member_iterations),
        },
        "scaling": {
            "inverted": True,
            "min": dict(zip(ref.genes, st.scaling_min.tolist(), strict=True)),
            "max": dict(zip(ref.genes, st.scaling_max.tolist(), strict=True)),
        },
        "batch_shifts": dict(st.batch_shifts),
        "batch_level": st.batch_level,
        "batch_sizes": dict(st.batch_sizes),
        "lh_range": list(st.lh_range),
        "asynchrony_threshold": res.asynchrony_threshold,
        "asynchrony_threshold_method": (
            "median of bootstrap broken-stick thresholds"
            if ref.threshold_rule == "bagged"
            else "broken-stick (segmented) fit to sorted cohort scores"
        ),
        "asynchrony_threshold_segmented": st.threshold_segmented,
        "asynchrony_threshold_psi": st.threshold_psi,
        "asynchrony_threshold_bootstrap": {"q05": bt.low, "median": bt.estimate, "q95": bt.high},
        "out_of_phase_days": st.out_of_phase_days,
        "time_map": {
            "pseudotime": st.time_map_pseudotime.tolist(),
            "estimated_lh_day": st.time_map_lh_day.tolist(),
        },
        "curves": st.placement_curves.to_dict(ref.genes),
        "asynchrony_curves": st.asynchrony_curves.to_dict(ref.genes),
        "cohort": {
            "ID": list(res.ids),
            "BATCH": list(res.batch),
            "LH": res.lh_day.tolist(),
            "pseudotime": res.pseudotime.tolist(),
            "estimated_lh_day": res.estimated_lh_day.tolist(),
            "asynchrony_score": res.asynchrony_score.tolist(),
            "expression": {
                g: st.expression[:, j].tolist() for j, g in enumerate(ref.genes)
            },
        },
    }


def save_reference(ref: TimingReference, path: str | Path) -> Path:
    """Write the reference as versioned JSON (a directory gets ``reference.json``).

    Examples
    --------
    >>> import tempfile
    >>> from decidua.assays.timing import load_default_reference
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     save_reference(load_default_reference(), Path(tmp)).name
    'reference.json'
    """
    p = Path(path)
    if p.is_dir():
        p = p / "reference.json"
    p.write_text(json.dumps(reference_to_dict(ref), indent=1))
    return p


def reference_from_dict(cls: type[TimingReference], d: Mapping[str, Any]) -> TimingReference:
    """Rebuild a reference saved by :meth:`to_dict`.

    Examples
    --------
    >>> from decidua.assays.timing import TimingReference, load_default_reference
    >>> ref = load_default_reference()
    >>> reference_from_dict(TimingReference, ref.to_dict()).to_dict() == ref.to_dict()
    True
    """
    if d.get("model_version") not in READABLE_MODEL_VERSIONS:
        raise InputError(
            f"unsupported timing reference version {d.get('model_version')!r} "
            f"(this Decidua reads {MODEL_VERSION!r})"
        )
    s = d["settings"]
    ref = cls(
        d["genes"],
        gene_window=s["gene_window"],
        aggregate_window=s["aggregate_window"],
        euclidean_stop=s["euclidean_stop"],
        batch_correct=s["batch_correct"],
        max_iterations=s["max_iterations"],
        patience=s["patience"],
        final=s["final"],
        threshold_rule=s["threshold_rule"],
        # files written before the seed ensemble hold single fits
        n_seeds=s.get("n_seeds", 1),
    )
    genes = ref.genes

    coh = d["cohort"]
    score = np.asarray(coh["asynchrony_score"], float)
    thr = float(d["asynchrony_threshold"])
    ref.result = TimingFitResult(
        ids=tuple(coh["ID"]),
        batch=tuple(coh["BATCH"]),
        lh_day=np.asarray(coh["LH"], float),
        pseudotime=np.asarray(coh["pseudotime"], float),
        estimated_lh_day=np.asarray(coh["estimated_lh_day"], float),
        asynchrony_score=score,
        asynchronous=score > thr,
        asynchrony_threshold=thr,
        stop_reason=d["fit"]["stop_reason"],
        distances=tuple(d["fit"]["distances"]),
    )
    bt = d["asynchrony_threshold_bootstrap"]
    ref.state = TimingState(
        scaling_min=np.array([d["scaling"]["min"][g] for g in genes]),
        scaling_max=np.array([d["scaling"]["max"][g] for g in genes]),
        batch_shifts={str(k): float(v) for k, v in d["batch_shifts"].items()},
        batch_level=float(d["batch_level"]),
        batch_sizes=dict(d["batch_sizes"]),
        lh_range=tuple(d["lh_range"]),
        final_gene_window=s["final_gene_window"],
        final_aggregate_window=s["final_aggregate_window"],
        placement_curves=WindowCurves.from_dict(d["curves"], genes),
        asynchrony_curves=WindowCurves.from_dict(d["asynchrony_curves"], genes),
        time_map_pseudotime=np.asarray(d["time_map"]["pseudotime"], float),
        time_map_lh_day=np.asarray(d["time_map"]["estimated_lh_day"], float),
        threshold_psi=d["asynchrony_threshold_psi"],
        threshold_segmented=d["asynchrony_threshold_segmented"],
        threshold_bootstrap=Interval(
            estimate=bt["median"],
            low=bt["q05"],
            high=bt["q95"],
            level=THRESHOLD_BOOTSTRAP_LEVEL,
            method=f"{THRESHOLD_BOOTSTRAP} bootstrap resamples of the broken-stick fit",
        ),
        out_of_phase_days=float(d["out_of_phase_days"]),
        expression=np.column_stack([coh["expression"][g] for g in genes]),
        seed=s["seed"],
        member_seeds=tuple(s.get("member_seeds", [s["seed"]])),
        member_stop_reasons=tuple(d["fit"].get("member_stop_reasons", [d["fit"]["stop_reason"]])),
        member_iterations=tuple(d["fit"].get("member_iterations", [d["fit"]["iterations"]])),
    )
    cal = d.get("calibration")
    ref.calibration = None if cal is None else TimingCalibration.from_dict(cal)
    ref.provenance = dict(d.get("provenance") or {})
    return ref


def load_reference(cls: type[TimingReference], path: str | Path) -> TimingReference:
    """Read a reference written by :meth:`save` (a file or a directory).

    Examples
    --------
    >>> from decidua.assays.timing import TimingReference, default_reference_path
    >>> load_reference(TimingReference, default_reference_path()).n_seeds
    8
    """
    p = Path(path)
    if p.is_dir():
        p = p / "reference.json"
    if not p.exists():
        raise InputError("timing reference not found", file=str(p))
    try:
        d = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a timing reference file ({exc})", file=str(p)) from None
    try:
        return reference_from_dict(cls, d)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"damaged timing reference (missing {exc})", file=str(p)) from None



