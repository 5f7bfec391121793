"""Colony counting from photographs or scans of stained dishes and plates.

The names of the counter, importable from here as before the package was
split into one module per concept:

- :mod:`.image` - reading and validating photographs;
- :mod:`.wells` - dish / well detection;
- :mod:`.segmentation` - background correction, threshold, splitting;
- :mod:`.counting` - per-well counting, artefact rejection, the result,
  manual corrections and their sidecar;
- :mod:`.overlay` - the QC picture.
"""

from __future__ import annotations

from decidua.assays.clonogenicity.counting import (
    BAND_FRACTION,
    COLONY_COLUMNS,
    CORE_FRACTION,
    CORRECTIONS_VERSION,
    DEFAULT_MIN_AREA_UM2,
    DEFAULT_RIM_FRACTION,
    FAINT_CONTRAST,
    H_SPLIT_FRACTION,
    HOLE_FRACTION,
    HOLLOW_RATIO,
    MAX_COLONY_RADIUS_MM,
    MAX_ELONGATION,
    MIN_SOLIDITY,
    OPEN_FRACTION,
    THIN_FRACTION,
    Correction,
    CountResult,
    apply_corrections,
    count_colonies,
    count_image_file,
    load_corrections,
    load_sidecar,
    save_corrections,
    sidecar_path,
)
from decidua.assays.clonogenicity.image import check_image, image_sha256, load_image
from decidua.assays.clonogenicity.overlay import render_overlay, save_overlay
from decidua.assays.clonogenicity.segmentation import (
    HIGH_CONTRAST_FLOOR,
    HIGH_NOISE_K,
    LOW_CONTRAST_FLOOR,
    LOW_NOISE_K,
    RING_FILL_RATIO,
    RING_MIN_SOLIDITY,
    SINGLE_SOLIDITY,
    _drop_small_labels,
    _fill_small_holes,
    _hysteresis_threshold,
    _merge_shallow_basins,
    _split,
)
from decidua.assays.clonogenicity.wells import (
    DETECT_SIDE_PX,
    MIN_REFINE_FRACTION,
    detect_wells,
    refine_well_radius,
)

__all__ = [
    "BAND_FRACTION", "COLONY_COLUMNS", "CORE_FRACTION", "CORRECTIONS_VERSION",
    "DEFAULT_MIN_AREA_UM2", "DEFAULT_RIM_FRACTION", "DETECT_SIDE_PX", "FAINT_CONTRAST",
    "HIGH_CONTRAST_FLOOR", "HIGH_NOISE_K", "HOLE_FRACTION", "HOLLOW_RATIO", "H_SPLIT_FRACTION",
    "LOW_CONTRAST_FLOOR", "LOW_NOISE_K", "MAX_COLONY_RADIUS_MM", "MAX_ELONGATION",
    "MIN_REFINE_FRACTION", "MIN_SOLIDITY", "OPEN_FRACTION", "RING_FILL_RATIO",
    "RING_MIN_SOLIDITY", "SINGLE_SOLIDITY", "THIN_FRACTION", "Correction", "CountResult",
    "_drop_small_labels", "_fill_small_holes", "_hysteresis_threshold", "_merge_shallow_basins",
    "_split", "apply_corrections", "check_image", "count_colonies", "count_image_file",
    "detect_wells", "image_sha256", "load_corrections", "load_image", "load_sidecar",
    "refine_well_radius", "render_overlay", "save_corrections", "save_overlay", "sidecar_path",
]
