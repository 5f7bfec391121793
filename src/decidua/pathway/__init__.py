"""Care-pathway rules: what to investigate or offer next, with the guideline line for each.

Rules are data (``rules.yaml``, versioned, with citations): the graded model of care of
Coomarasamy et al., Lancet 2021, and the ESHRE 2022 guideline on recurrent pregnancy loss.
See ``docs/pathway.md``. Research use only; not a diagnostic device.
"""

from __future__ import annotations

from decidua.pathway.engine import (
    FACTS,
    STEP_KINDS,
    STRENGTHS,
    PathwayResult,
    Rule,
    RuleSet,
    Step,
    aps_status,
    compute_facts,
    default_rules,
    loss_trimester,
    next_steps,
    thyroid_status,
)

__all__ = [
    "FACTS",
    "STEP_KINDS",
    "STRENGTHS",
    "PathwayResult",
    "Rule",
    "RuleSet",
    "Step",
    "aps_status",
    "compute_facts",
    "default_rules",
    "loss_trimester",
    "next_steps",
    "thyroid_status",
]
