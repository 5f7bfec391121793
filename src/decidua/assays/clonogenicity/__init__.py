"""Clonogenicity (CFU) assay: colony counting from plate images and CFU statistics.

Submodules, one concept each:

- :mod:`.image` - reading and validating photographs;
- :mod:`.wells` - dish / well detection;
- :mod:`.segmentation` - background correction, threshold, watershed splitting;
- :mod:`.counting` - per-well counting, artefact rejection, :class:`CountResult`,
  manual corrections and their sidecar;
- :mod:`.overlay` - the QC overlay picture;
- :mod:`.stats` - CFU %, exact Poisson intervals, rate ratios, trial GLM;
- :mod:`.synthetic` - plates and trials with known truth;
- :mod:`.layouts` - dish / plate geometry;
- :mod:`.count` - the counter's names as one module (as before the split).

The names below load lazily: importing the package costs nothing until one
of them is used (OpenCV, pandas and SciPy load then).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Correction": "counting",
    "CountResult": "counting",
    "apply_corrections": "counting",
    "count_colonies": "counting",
    "count_image_file": "counting",
    "load_corrections": "counting",
    "save_corrections": "counting",
    "detect_wells": "wells",
    "load_image": "image",
    "render_overlay": "overlay",
    "save_overlay": "overlay",
    "CFUEstimate": "stats",
    "RateRatio": "stats",
    "TrialFit": "stats",
    "cfu_percent": "stats",
    "compare_rates": "stats",
    "fit_trial": "stats",
    "pool_counts": "stats",
    "validate_counts": "stats",
    "SyntheticPlate": "synthetic",
    "make_plate": "synthetic",
    "simulate_trial": "synthetic",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
