"""Seeded synthetic decidualization cultures with known response classes (tests, demo).

Generator (all numbers are arbitrary synthetic choices, **not** physiological
reference values): each culture has a class drawn with ``class_probs`` over
(blunted, normal, excessive). For marker ``k`` the log fold change over day 0
follows a saturating rise ``A (1 - exp(-t / tau))`` with ``tau`` log-normal
around 3 days (SD 0.15 on the log scale) and amplitude ``A = A_k F X``: ``A_k``
= log(30) for PRL and log(100) for IGFBP1, ``X`` log-normal with SD
``amplitude_sd`` (between-culture spread of normal cultures), ``F`` = 0.5
(blunted), 1 (normal) or 1.5 (excessive), shared by the culture's markers.
Day-0 concentrations are log-normal around 2 ng/mL (PRL) and 5 ng/mL
(IGFBP1), SD 0.3; each replicate well carries multiplicative log-normal
noise with SD ``cv`` (default 0.10). Output: the long table
:func:`~decidua.assays.decidualization.time_courses` reads, and the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CLASS_ORDER = ("blunted", "normal", "excessive")
CLASS_FACTOR = {"blunted": 0.5, "normal": 1.0, "excessive": 1.5}
#: synthetic peak fold changes and day-0 levels (arbitrary, for testing only)
MARKERS = {"PRL": (30.0, 2.0), "IGFBP1": (100.0, 5.0)}


def synthetic_cultures(
    n: int,
    *,
    seed: int,
    days: tuple[float, ...] = (0, 2, 4, 8),
    class_probs: tuple[float, float, float] = (0.2, 0.6, 0.2),
    replicates: int = 2,
    amplitude_sd: float = 0.15,
    cv: float = 0.10,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """``n`` cultures named ``C0001``...: (long table, {culture: true class}).

    Examples
    --------
    >>> df, truth = synthetic_cultures(3, seed=0)
    >>> sorted(df.columns), len(df)
    (['culture', 'day', 'marker', 'scale', 'value'], 48)
    """
    rng = np.random.default_rng(seed)
    p = np.asarray(class_probs, dtype=float)
    p = p / p.sum()
    rows = []
    truth: dict[str, str] = {}
    for i in range(n):
        name = f"C{i + 1:04d}"
        cls = CLASS_ORDER[int(rng.choice(3, p=p))]
        truth[name] = cls
        tau = 3.0 * float(np.exp(rng.normal(0.0, 0.15)))
        x = float(np.exp(rng.normal(0.0, amplitude_sd)))
        for marker, (peak, base) in MARKERS.items():
            amp = np.log(peak) * CLASS_FACTOR[cls] * x
            c0 = base * float(np.exp(rng.normal(0.0, 0.3)))
            for d in days:
                mean = c0 * np.exp(amp * (1.0 - np.exp(-d / tau)))
                for _ in range(replicates):
                    rows.append((name, marker, float(d),
                                 float(mean * np.exp(rng.normal(0.0, cv))), "concentration"))
    df = pd.DataFrame(rows, columns=["culture", "marker", "day", "value", "scale"])
    return df, truth
