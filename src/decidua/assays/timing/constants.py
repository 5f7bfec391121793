"""Constants of the timing method, each with its source (EndoTime defaults or Decidua's choices).

Examples
--------
>>> from decidua.assays.timing import GENES, MODEL_VERSION
>>> len(GENES), GENES[0]
(6, 'GPX3')
>>> MODEL_VERSION
'decidua.timing.reference/3'
"""

from __future__ import annotations

from decidua.stats.calibration import LOGIT_EPS
from decidua.stats.calibration import RELIABILITY_BINS as RELIABILITY_BINS

# --------------------------------------------------------------------------------------

#: Timing genes, in the order of EndoTime's vignette (``vignettes/endotime.Rmd``).
GENES: tuple[str, ...] = ("GPX3", "SLC15A2", "IL2RB", "CXCL14", "DPP4", "IGFBP1")
#: Initial width (biopsies) of the per-gene window; EndoTime ``endotime_train`` default.
DEFAULT_GENE_WINDOW = 80
#: Initial width (windows) of the aggregate window; EndoTime ``endotime_train`` default.
DEFAULT_AGGREGATE_WINDOW = 80
#: Window shrink per iteration and its floor; EndoTime ``.endometrium_ordering``.
WINDOW_STEP = 10
WINDOW_FLOOR = 20
#: Stop when successive orderings are this close (Euclidean, days); EndoTime ``euc`` default.
DEFAULT_EUCLIDEAN_STOP = 2.0
#: Half-width (biopsies) of the tent kernel mapping ranks to LH days; EndoTime
#: ``.convert_realtime`` (``bin_radius <- 10``).
LH_MAP_RADIUS = 10
#: Half-width of the uniform jitter that breaks ties between integer LH days; EndoTime
#: ``.enforce_monotony`` (``runif(-0.5, 0.5)``).
LH_JITTER_DAYS = 0.5
#: Hours per day, for ``estimated_hours`` (hours after the LH surge).
HOURS_PER_DAY = 24.0
#: Iteration cap.  Measured (docs/timing.md): on EndoTime's training data the distance
#: between successive orderings levels off at about 3-8 once the windows reach their
#: floor (iteration 7), so the R default never stops; 20 iterations give up to 14
#: orderings at the floor to average.
DEFAULT_MAX_ITERATIONS = 20
#: Orderings at the window floor without a new minimum distance before the run is
#: declared oscillating (Decidua's choice, docs/timing.md).
DEFAULT_PATIENCE = 5
#: How the final ordering is chosen ("average": mean time over all orderings computed
#: at the window floor, re-ranked).  Decidua's choice: it removes most of the
#: seed-to-seed wobble of a single ordering (docs/timing.md).
DEFAULT_FINAL = "average"
#: Seeds per fit (seed ensemble).  Decidua's choice: the orderings of ``DEFAULT_N_SEEDS``
#: seeds derived from the user's seed (:func:`ensemble_seeds`) are averaged per biopsy and
#: re-ranked; curves, scores and threshold come from the combined times.  Measured
#: (docs/timing.md, *Seed ensemble*): between disjoint seed sets the 95th percentile of
#: |Δ estimated time| falls from 14.4 h (single seeds) to 7.2 h.  ``n_seeds=1`` reproduces
#: the single fit of earlier versions exactly.
DEFAULT_N_SEEDS = 8
#: Smallest new qPCR batch that gets its own shift (Decidua's choice: with fewer
#: biopsies the batch mean is dominated by the biopsies' cycle days, not the run).
MIN_NEW_BATCH_SIZE = 10
#: Nominal coverage of the placement interval.  With a calibration (``calibrate``) the
#: interval is the central ``mass_level`` of the biopsy's density, ``mass_level`` chosen
#: so that this share of held-out biopsies is covered (docs/timing.md); without one it is
#: the central ``INTERVAL_LEVEL`` of the density (uncalibrated, conservative).
INTERVAL_LEVEL = 0.95
#: Nominal levels whose calibrated mass levels are stored in the reference.
CALIBRATION_LEVELS: tuple[float, ...] = (0.80, 0.90, 0.95)
#: Resolution of the density mass levels searched by the calibration.
CALIBRATION_STEP = 0.01
#: Seed of the default reference shipped with Decidua (``reference/endotime/reference.json``).
DEFAULT_REFERENCE_SEED = 1
#: Quantile of |estimated - reported| LH day in the reference that defines
#: "out of phase" for the out-of-phase probability (Decidua's choice).
OUT_OF_PHASE_QUANTILE = 0.95
#: Clip of the raw out-of-phase mass before the logit of Platt scaling, and the bins of
#: its reliability table: the generic defaults of :mod:`decidua.stats.calibration`.
OUT_OF_PHASE_LOGIT_EPS = LOGIT_EPS
#: Bootstrap resamples of the cohort's scores for the bagged asynchrony threshold.
THRESHOLD_BOOTSTRAP = 200
#: Default threshold rule: "bagged" = median over bootstrap resamples of EndoTime's
#: broken-stick threshold (Breiman, "Bagging predictors", Mach Learn 1996); "segmented"
#: = the single broken-stick fit, as EndoTime.  Decidua's choice: the single fit's
#: breakpoint is poorly determined on a smooth score curve (docs/timing.md).
DEFAULT_THRESHOLD_RULE = "bagged"
#: Reference file format version; bump on any incompatible change.
#: /3: the calibration carries a Platt map for the out-of-phase probability.
MODEL_VERSION = "decidua.timing.reference/3"
#: Older versions this Decidua still reads (/1: no calibration, no provenance; /2: interval
#: calibration only, so the out-of-phase probability stays the raw density mass).
READABLE_MODEL_VERSIONS: tuple[str, ...] = (
    "decidua.timing.reference/1",
    "decidua.timing.reference/2",
    MODEL_VERSION,
)
CENTILES_VERSION = "decidua.timing.centiles/1"
#: Centiles reported by default (the issue's 5th/10th/50th/90th/95th).
STANDARD_CENTILES: tuple[float, ...] = (0.05, 0.10, 0.50, 0.90, 0.95)

REQUIRED_COLUMNS = ("ID", "LH")
