"""Cytosine contexts: CpG / CHG / CHH and the CpA / CpC / CpT split.

Contexts come from the trinucleotide column of cytosine reports, or from the
reference genome (``--genome FASTA``) for formats without it (coverage files,
bedGraphs, BAM extraction). Context *selectors* name sets of sites used by the
summaries: ``CG``, ``CHG``, ``CHH``, ``CH`` (all non-CpG), ``CA``, ``CC``,
``CT`` (the second base of the dinucleotide, read on the cytosine's strand).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from isal import igzip

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


_GZIP_MAGIC = b"\x1f\x8b"
_PLAIN_GZIP_CACHE: dict[tuple[str, int, int], Path] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_DIR: list[Path] = []


def _compression(path: Path) -> str:
    """``"plain"``, ``"bgzf"`` (block gzip, readable by htslib) or ``"gzip"`` (plain gzip)."""
    with open(path, "rb") as fh:
        head = fh.read(18)
    if head[:2] != _GZIP_MAGIC:
        return "plain"
    # BGZF: FEXTRA flag set and a 'BC' extra subfield (SAM specification, section 4.1)
    if len(head) >= 14 and head[3] & 4 and head[12:14] == b"BC":
        return "bgzf"
    return "gzip"


def _cache_dir() -> Path:
    if not _CACHE_DIR:
        d = Path(tempfile.mkdtemp(prefix="decidua-fasta-"))
        atexit.register(shutil.rmtree, d, ignore_errors=True)
        _CACHE_DIR.append(d)
    return _CACHE_DIR[0]


def fasta_for_htslib(path: str | Path) -> str:
    """Path of a FASTA that htslib (pysam) can index: the file itself, or a decompressed copy.

    Plain and bgzip-compressed FASTA files are returned unchanged. A plain-gzip
    FASTA (how most genomes are downloaded; htslib cannot index it) is
    decompressed once per process, streaming (bounded memory), into a
    temporary folder (``TMPDIR``) that is removed at exit; later calls for
    the same unchanged file reuse the copy. The copy needs as much temporary
    disk as the uncompressed genome (about 3.1 GB for human): for repeated
    use, ``bgzip`` the FASTA once (``zcat g.fa.gz | bgzip > g.fa.bgz``).

    Raises
    ------
    InputError
        The file does not exist or its gzip stream is truncated or corrupt.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("reference FASTA not found", file=str(path))
    if _compression(path) != "gzip":
        return str(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _CACHE_LOCK:
        cached = _PLAIN_GZIP_CACHE.get(key)
        if cached is not None and cached.exists():
            return str(cached)
        name = path.name[:-3] if path.name.endswith(".gz") else path.name + ".fa"
        out = _cache_dir() / f"{len(_PLAIN_GZIP_CACHE)}_{name}"
        try:
            with igzip.open(path, "rb") as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        except (EOFError, OSError, zlib.error) as exc:
            out.unlink(missing_ok=True)
            raise InputError(f"cannot decompress the gzip reference FASTA ({exc})",
                             file=str(path)) from None
        _PLAIN_GZIP_CACHE[key] = out
        return str(out)


def open_fasta(path: str | Path):  # type: ignore[no-untyped-def]
    """Open a reference FASTA with pysam (plain, bgzip or plain gzip; see :func:`fasta_for_htslib`).

    The ``.fai`` index is built if missing. htslib's own messages are kept
    off stderr; a failure raises :class:`InputError` naming the file.

    Returns
    -------
    pysam.FastaFile
    """
    import pysam

    readable = fasta_for_htslib(path)
    verbosity = pysam.set_verbosity(0)
    try:
        return pysam.FastaFile(readable)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"cannot open reference FASTA ({exc}); it must be a FASTA file, plain, bgzip- or "
            "gzip-compressed, with a .fai index or in a folder where one can be written",
            file=str(path)) from None
    finally:
        pysam.set_verbosity(verbosity)


class ReferenceGenome:
    """An indexed FASTA with a one-chromosome cache (for chunk-by-chunk annotation).

    Sorted input touches each chromosome once, so annotating a stream of chunks
    costs one read of the genome, and memory holds one chromosome (codes, 1 byte
    per base).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._fasta = open_fasta(path)
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
        Reference FASTA (plain, bgzip, or plain gzip — decompressed once to a
        temporary file, see :func:`fasta_for_htslib`), or an open
        :class:`ReferenceGenome`.
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


__all__ = ["ReferenceGenome", "SELECTORS", "annotate_from_fasta", "context_mask",
           "fasta_for_htslib", "open_fasta", "parse_contexts"]
