"""Cytosine contexts: CpG / CHG / CHH and the CpA / CpC / CpT split.

Contexts come from the trinucleotide column of cytosine reports, or from the
reference genome (``--genome FASTA``) for formats without it (coverage files,
bedGraphs, BAM extraction). Context *selectors* name sets of sites used by the
summaries: ``CG``, ``CHG``, ``CHH``, ``CH`` (all non-CpG), ``CA``, ``CC``,
``CT`` (the second base of the dinucleotide, read on the cytosine's strand).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from decidua.assays.methylation.calls import (
    BASE_LUT,
    CTX_CG,
    CTX_CHG,
    CTX_CHH,
    TRI_UNKNOWN,
    MethylationCalls,
    context_from_trinucleotide,
)
from decidua.errors import InputError

#: Context selectors understood by :func:`context_mask`.
SELECTORS: tuple[str, ...] = ("CG", "CHG", "CHH", "CH", "CA", "CC", "CT", "ALL")

# complement of base codes A C G T N
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)


def parse_contexts(text: str | Sequence[str]) -> tuple[str, ...]:
    """Parse ``"CA,CG"`` (or a list) into validated selector names.

    ``CpG``/``CpA``-style spellings are accepted.
    """
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        name = item.strip().upper().replace("P", "")
        if not name:
            continue
        if name not in SELECTORS:
            raise InputError(
                f"unknown context {item!r}; expected some of {', '.join(SELECTORS)}",
                column="context",
                value=item,
            )
        out.append(name)
    if not out:
        raise InputError("no context given", column="context")
    return tuple(out)


def context_mask(calls: MethylationCalls, selector: str) -> np.ndarray:
    """Boolean mask of the sites in ``calls`` that belong to ``selector``.

    Dinucleotide selectors (CA, CC, CT) need the trinucleotide (a cytosine
    report, or :func:`annotate_from_fasta`); sites without one are excluded.
    """
    ctx = calls.context
    if selector == "ALL":
        return np.ones(len(calls), dtype=bool)
    if selector == "CG":
        return ctx == CTX_CG
    if selector == "CHG":
        return ctx == CTX_CHG
    if selector == "CHH":
        return ctx == CTX_CHH
    if selector == "CH":
        return (ctx == CTX_CHG) | (ctx == CTX_CHH)
    second = {"CA": 0, "CC": 1, "CT": 3}.get(selector)
    if second is None:
        raise InputError(f"unknown context {selector!r}", column="context", value=selector)
    tri = calls.trinucleotide
    return (tri != TRI_UNKNOWN) & (tri // 5 == second)


class ReferenceGenome:
    """An indexed FASTA with a one-chromosome cache (for chunk-by-chunk annotation).

    Sorted input touches each chromosome once, so annotating a stream of chunks
    costs one read of the genome, and memory holds one chromosome (codes, 1 byte
    per base).
    """

    def __init__(self, path: str | Path) -> None:
        import pysam

        self.path = str(path)
        try:
            self._fasta = pysam.FastaFile(self.path)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot open reference FASTA: {exc}", file=self.path) from None
        self.references = set(self._fasta.references)
        self.lengths = dict(zip(self._fasta.references, self._fasta.lengths, strict=True))
        self._name: str | None = None
        self._codes = np.zeros(0, np.uint8)

    def codes(self, name: str) -> np.ndarray:
        """Base codes (A C G T N = 0..4) of one sequence."""
        if name not in self.references:
            raise InputError(f"chromosome {name!r} is not in the reference FASTA",
                             file=self.path, value=name)
        if name != self._name:
            seq = self._fasta.fetch(name)
            self._codes = BASE_LUT[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
            self._name = name
        return self._codes

    def close(self) -> None:
        """Release the file handle."""
        self._fasta.close()


def annotate_from_fasta(calls: MethylationCalls,
                        fasta_path: str | Path | ReferenceGenome) -> MethylationCalls:
    """Fill strand, context and trinucleotide of every site from a reference FASTA.

    The strand of a site with unknown strand is set from the reference base
    (``C`` → top, ``G`` → bottom); sites whose reference base is neither keep
    strand 0 and an unknown context. For a top-strand C at 1-based ``p`` the
    trinucleotide is ``ref[p..p+2]``; for a bottom-strand C it is the reverse
    complement of ``ref[p-2..p]`` — Bismark's cytosine-report convention.

    Parameters
    ----------
    calls
        Sites to annotate.
    fasta_path
        Reference FASTA (plain or bgzip) with a ``.fai`` index, or one that
        pysam can index, or an open :class:`ReferenceGenome`.
    """
    genome = fasta_path if isinstance(fasta_path, ReferenceGenome) else ReferenceGenome(
        fasta_path)
    strand = calls.strand.copy()
    tri = np.full(len(calls), TRI_UNKNOWN, dtype=np.uint8)
    try:
        for code in np.unique(calls.chrom):
            name = calls.chrom_names[code]
            idx = np.flatnonzero(calls.chrom == code)
            seq = genome.codes(name)
            p0 = calls.pos[idx] - 1  # 0-based

            def padded(i: np.ndarray, seq: np.ndarray = seq) -> np.ndarray:
                ok = (i >= 0) & (i < len(seq))
                out = np.full(i.shape, 4, dtype=np.uint8)
                out[ok] = seq[i[ok]]
                return out
            if (calls.pos[idx] < 1).any() or (calls.pos[idx] > len(seq)).any():
                bad = idx[(calls.pos[idx] < 1) | (calls.pos[idx] > len(seq))][0]
                raise InputError(
                    f"position beyond the end of {name!r} ({len(seq)} bp) in the reference",
                    file=genome.path,
                    value=int(calls.pos[bad]),
                )
            base = padded(p0)
            s = strand[idx]
            unknown = s == 0
            s = np.where(unknown & (base == 1), 1, np.where(unknown & (base == 2), -1, s))
            strand[idx] = s
            top = s == 1
            bot = s == -1
            t = np.full(len(idx), TRI_UNKNOWN, dtype=np.uint8)
            t[top] = padded(p0[top] + 1) * 5 + padded(p0[top] + 2)
            t[bot] = _COMPLEMENT[padded(p0[bot] - 1)] * 5 + _COMPLEMENT[padded(p0[bot] - 2)]
            tri[idx] = t
    finally:
        if genome is not fasta_path:
            genome.close()
    ctx = context_from_trinucleotide(tri)
    return MethylationCalls(calls.chrom_names, calls.chrom, calls.pos, strand.astype(np.int8),
                            ctx, tri, calls.methylated, calls.unmethylated)


__all__ = ["ReferenceGenome", "SELECTORS", "annotate_from_fasta", "context_mask", "parse_contexts"]
