"""Clonogenicity (CFU) assay: colony counting from plate images and CFU statistics.

Submodules: :mod:`.count` (image counting, QC overlay, manual corrections),
:mod:`.stats` (CFU %, exact Poisson intervals, rate ratios, trial GLM,
manual-count reader), :mod:`.synthetic` (plates and trials with known truth),
:mod:`.layouts` (dish / plate geometry).
"""

from decidua.assays.clonogenicity.count import (
    Correction,
    CountResult,
    apply_corrections,
    count_colonies,
    count_image_file,
    detect_wells,
    load_corrections,
    load_image,
    render_overlay,
    save_corrections,
    save_overlay,
)
from decidua.assays.clonogenicity.stats import (
    CFUEstimate,
    RateRatio,
    TrialFit,
    cfu_percent,
    compare_rates,
    fit_trial,
    pool_counts,
    validate_counts,
)
from decidua.assays.clonogenicity.synthetic import SyntheticPlate, make_plate, simulate_trial

__all__ = [
    "CFUEstimate",
    "CountResult",
    "Correction",
    "RateRatio",
    "SyntheticPlate",
    "TrialFit",
    "apply_corrections",
    "cfu_percent",
    "compare_rates",
    "count_colonies",
    "count_image_file",
    "detect_wells",
    "fit_trial",
    "load_corrections",
    "load_image",
    "make_plate",
    "pool_counts",
    "render_overlay",
    "save_corrections",
    "save_overlay",
    "simulate_trial",
    "validate_counts",
]
