"""Fixtures for the methylation tests (data described in tests/data/methylation/README.md)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pysam
import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "methylation"
BISMARK = DATA / "bismark"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def ecoli_fasta(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The N-masked E. coli reference, decompressed and faidx-indexed."""
    out = tmp_path_factory.mktemp("genome") / "NC_010473.fa"
    with gzip.open(BISMARK / "NC_010473.covered_masked.fa.gz", "rb") as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
    pysam.faidx(str(out))
    return out
