"""Pro-senescent decidual index from qPCR: p16 (CDKN2A), DIO2 and SCARA5 (pure).

Lucas ES, Vrljicak P, Muter J, et al. Recurrent pregnancy loss is associated
with a pro-senescent decidual response during the peri-implantation window.
Commun Biol 2020;3:37 (doi:10.1038/s42003-020-0763-1) reconstructed the
decidual pathway at single-cell level: stromal cells emerge as decidual cells
(DC) or senescent decidual cells (snDC), and single-cell analysis of midluteal
endometrium "identified DIO2 and SCARA5 as marker genes of a diverging decidual
response" (abstract, verified). That DIO2 marks the senescent (snDC) and
SCARA5 the decidual (DC) state is how the project brief reads the paper
(``BRIEF.md`` §2-3) and is not verified (only the abstract was reachable;
verification record: docs/senescence.md); the index below rests on that reading.

Definitions, per sample, from ΔCq = Cq(gene) − Cq(reference) (the qPCR
module's sign: higher ΔCq = less expression):

- relative expression of a gene = ``2^-ΔCq`` (Livak & Schmittgen, Methods
  2001;25:402, efficiency 2 assumed), interval ``2^-(ΔCq ± z s)`` with ``s`` the
  SD of ΔCq (target and reference replicate SDs combined);
- **pro-senescent index** = ``log2(DIO2 / SCARA5)`` = ``ΔCq(SCARA5) − ΔCq(DIO2)``.
  More DIO2 relative to SCARA5 gives a higher index; 0 = equal relative
  levels; +1 = twice as much DIO2 per SCARA5. The reference gene cancels in
  the difference, so its SD is ``s = sqrt(s_DIO2^2 + s_SCARA5^2)`` from the two
  targets' replicate Cq SDs (independent replicates, normal error), and the
  interval is ``index ± z s`` with ``z`` the normal quantile of ``level``.
- p16 (CDKN2A) relative expression is reported alongside, not folded into
  the index (an assumption of ours: no published weighting combines them).

The default level, 0.6827 (± 1 SD), is the qPCR module's convention (what
Livak & Schmittgen print). The index is a within-sample ratio: it needs no
calibrator and no reference range; no cut-off is claimed (none is published
for qPCR).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scipy.stats import norm

from decidua.assays.qpcr.quantify import ONE_SD_LEVEL, Quantification
from decidua.errors import InputError, Problem
from decidua.stats import Interval

#: The three genes, with the names a plate may give them (matched case-insensitively).
GENE_ALIASES: dict[str, tuple[str, ...]] = {
    "CDKN2A": ("CDKN2A", "p16", "p16INK4a", "p16-INK4a"),
    "DIO2": ("DIO2",),
    "SCARA5": ("SCARA5",),
}
INDEX_METHOD = ("log2(DIO2/SCARA5) = ΔCq(SCARA5) - ΔCq(DIO2) ± z·sqrt(s_DIO2^2 + s_SCARA5^2), "
                "replicate Cq SDs, normal error")
RELATIVE_METHOD = "2^-(ΔCq ± z·s), s = SD of ΔCq (target and reference replicates)"


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise InputError("interval level must be in (0, 1)", column="level", value=level)
    return float(norm.ppf(0.5 + level / 2.0))


@dataclass(frozen=True)
class GeneExpression:
    """One gene's ΔCq and relative expression ``2^-ΔCq`` for one sample.

    Examples
    --------
    >>> g = relative_expression("DIO2", 5.0, 0.2)
    >>> g.relative.estimate
    0.03125
    >>> round(g.relative.low, 5), round(g.relative.high, 5)
    (0.0272, 0.0359)
    """

    gene: str
    delta_cq: float
    delta_cq_sd: float | None
    relative: Interval

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN limits as ``None``)."""
        return {"gene": self.gene, "delta_cq": self.delta_cq, "delta_cq_sd": self.delta_cq_sd,
                "relative": _iv_dict(self.relative)}


@dataclass(frozen=True)
class SenescenceIndex:
    """p16, DIO2 and SCARA5 relative expression and the pro-senescent index of one sample.

    Attributes
    ----------
    sample
        The sample as the plate names it.
    p16, dio2, scara5
        Each gene's :class:`GeneExpression` (p16 = CDKN2A).
    index
        ``log2(DIO2 / SCARA5)`` with its interval (higher = more pro-senescent).

    Examples
    --------
    >>> r = senescence_index({"CDKN2A": 8.0, "DIO2": 6.0, "SCARA5": 9.0},
    ...                      cq_sd={"DIO2": 0.3, "SCARA5": 0.4}, sample="S1")
    >>> r.index.estimate, round(r.index.low, 4), round(r.index.high, 4)
    (3.0, 2.5, 3.5)
    >>> r.dio2_per_scara5
    8.0
    """

    sample: str
    p16: GeneExpression
    dio2: GeneExpression
    scara5: GeneExpression
    index: Interval

    @property
    def dio2_per_scara5(self) -> float:
        """The ratio DIO2/SCARA5 itself, ``2^index``."""
        return 2.0 ** self.index.estimate

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"sample": self.sample, "index": _iv_dict(self.index),
                "dio2_per_scara5": self.dio2_per_scara5,
                "genes": [g.to_dict() for g in (self.p16, self.dio2, self.scara5)]}


def _iv_dict(iv: Interval) -> dict[str, Any]:
    d = iv.to_dict()
    for k in ("estimate", "low", "high"):
        if isinstance(d.get(k), float) and not math.isfinite(d[k]):
            d[k] = None
    return d


def relative_expression(gene: str, delta_cq: float, delta_cq_sd: float | None = None,
                        level: float = ONE_SD_LEVEL) -> GeneExpression:
    """``2^-ΔCq`` with the interval ``2^-(ΔCq ± z s)`` (NaN limits when the SD is unknown).

    Examples
    --------
    >>> relative_expression("CDKN2A", 1.0).relative.estimate
    0.5
    """
    z = _z(level)
    est = 2.0 ** -delta_cq
    if delta_cq_sd is None or not math.isfinite(delta_cq_sd):
        iv = Interval(est, math.nan, math.nan, level, RELATIVE_METHOD + " (no SD)")
    else:
        iv = Interval(est, 2.0 ** -(delta_cq + z * delta_cq_sd),
                      2.0 ** -(delta_cq - z * delta_cq_sd), level, RELATIVE_METHOD)
    return GeneExpression(gene, float(delta_cq), delta_cq_sd, iv)


def _lookup(values: Mapping[str, Any], gene: str) -> tuple[bool, Any]:
    lower = {str(k).lower(): v for k, v in values.items()}
    for alias in GENE_ALIASES[gene]:
        if alias.lower() in lower:
            return True, lower[alias.lower()]
    return False, None


def _number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


def senescence_index(
    delta_cq: Mapping[str, float],
    *,
    cq_sd: Mapping[str, float | None] | None = None,
    delta_cq_sd: Mapping[str, float | None] | None = None,
    sample: str = "",
    level: float = ONE_SD_LEVEL,
) -> SenescenceIndex:
    """Relative expression of CDKN2A, DIO2, SCARA5 and the index from one sample's ΔCq.

    Parameters
    ----------
    delta_cq
        ΔCq per gene (CDKN2A may be named p16), against the same reference.
    cq_sd
        Replicate SD of each target's own Cq (the index's SD uses DIO2's and
        SCARA5's); missing -> the index has NaN limits.
    delta_cq_sd
        SD of each gene's ΔCq (for the relative-expression intervals); defaults
        to ``cq_sd`` (a reference with no replicate error).
    sample
        Name carried to the result and the error messages.
    level
        Interval coverage (default ± 1 SD, 0.6827).

    Raises
    ------
    InputError
        A gene missing or its ΔCq not a finite number (the gene and sample named),
        a negative SD.

    Examples
    --------
    >>> senescence_index({"p16": 7.0, "DIO2": 9.0, "SCARA5": 4.0}).index.estimate
    -5.0
    >>> senescence_index({"CDKN2A": 7.0, "SCARA5": 4.0}, sample="B12")
    Traceback (most recent call last):
    ...
    decidua.errors.InputError: column 'target': B12: gene DIO2 missing ... (value 'DIO2')
    """
    where = f"{sample}: " if sample else ""
    cq_sd = cq_sd or {}
    dsd = delta_cq_sd if delta_cq_sd is not None else cq_sd
    problems: list[Problem] = []
    got: dict[str, tuple[float, float | None, float | None]] = {}
    for gene in GENE_ALIASES:
        found, d = _lookup(delta_cq, gene)
        if not found or d is None:
            problems.append(Problem(
                f"{where}gene {gene} missing (needed: {', '.join(GENE_ALIASES)})",
                column="target", value=gene))
            continue
        if not _number(d):
            problems.append(Problem(f"{where}ΔCq of {gene} is not a finite number",
                                    column="delta_cq", value=d))
            continue
        sds = []
        for name, m in (("Cq SD", cq_sd), ("ΔCq SD", dsd)):
            _, s = _lookup(m, gene)
            if s is not None and (not _number(s) or s < 0):
                problems.append(Problem(f"{where}{name} of {gene} must be a number >= 0",
                                        column="sd", value=s))
                s = None
            sds.append(None if s is None else float(s))
        got[gene] = (float(d), sds[0], sds[1])
    if problems:
        raise InputError(problems)
    z = _z(level)
    genes = {g: relative_expression(g, v[0], v[2], level) for g, v in got.items()}
    est = got["SCARA5"][0] - got["DIO2"][0]
    s_d, s_s = got["DIO2"][1], got["SCARA5"][1]
    if s_d is None or s_s is None:
        iv = Interval(est, math.nan, math.nan, level, INDEX_METHOD + " (no SD)")
    else:
        half = z * math.hypot(s_d, s_s)
        iv = Interval(est, est - half, est + half, level, INDEX_METHOD)
    return SenescenceIndex(sample, genes["CDKN2A"], genes["DIO2"], genes["SCARA5"], iv)


def senescence_indices(quant: Quantification,
                       level: float = ONE_SD_LEVEL) -> tuple[SenescenceIndex, ...]:
    """The index of every sample of a :func:`decidua.assays.qpcr.quantify` result.

    Raises
    ------
    InputError
        A sample lacking one of the genes or its ΔCq (all undetermined), naming
        sample and gene.

    Examples
    --------
    >>> from decidua.assays.qpcr.wells import Well
    >>> from decidua.assays.qpcr.quantify import quantify
    >>> cq = {"RPL19": (20.0, 20.2), "CDKN2A": (27.0, 27.2), "DIO2": (25.0, 25.2),
    ...       "SCARA5": (26.0, 26.2)}
    >>> wells = [Well(well=f"A{i}", sample="S1", target=t, cq=c)
    ...          for i, (t, c) in enumerate((t, c) for t, cs in cq.items() for c in cs)]
    >>> senescence_indices(quantify(wells))[0].index.estimate
    1.0
    """
    by_sample: dict[str, dict[str, Any]] = {}
    for r in quant.results:
        if r.target in quant.reference_genes:
            continue
        d = by_sample.setdefault(r.sample, {"dcq": {}, "cq_sd": {}, "dsd": {}})
        d["dcq"][r.target] = r.delta_cq
        d["cq_sd"][r.target] = r.cq_sd
        d["dsd"][r.target] = r.delta_cq_sd
    if not by_sample:
        raise InputError("no samples with target genes on the plate", column="sample")
    out, problems = [], []
    for s, d in by_sample.items():
        try:
            out.append(senescence_index(d["dcq"], cq_sd=d["cq_sd"], delta_cq_sd=d["dsd"],
                                        sample=s, level=level))
        except InputError as e:
            problems.extend(e.problems)
    if problems:
        raise InputError(problems)
    return tuple(out)


__all__ = ["GENE_ALIASES", "INDEX_METHOD", "GeneExpression", "SenescenceIndex",
           "relative_expression", "senescence_index", "senescence_indices"]
