"""Per-biopsy screening call: rules as versioned data (``rules.yaml``) + a pure engine.

Research use only; not a diagnostic device. See ``docs/screening.md``.
"""

from decidua.screening.engine import (
    CALLS,
    BiopsyEvidence,
    Component,
    MarkerEvidence,
    ScreeningCall,
    ScreeningRules,
    TimingEvidence,
    default_rules,
    evaluate,
)

__all__ = [
    "CALLS",
    "BiopsyEvidence",
    "Component",
    "MarkerEvidence",
    "ScreeningCall",
    "ScreeningRules",
    "TimingEvidence",
    "default_rules",
    "evaluate",
]
