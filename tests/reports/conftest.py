"""Shared records for the report tests: one woman built by hand (known content)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from decidua.domain import (
    BiopsyRecord,
    DecidualCall,
    Interpretation,
    InvestigationRecord,
    KaryotypeResult,
    Outcome,
    PatientRecord,
    PregnancyRecord,
)

ON = dt.date(2025, 6, 1)


@pytest.fixture
def record() -> PatientRecord:
    """Three losses then a live birth then a loss; three biopsies (abnormal, normal, abnormal
    on treatment); a few investigations."""
    return PatientRecord(
        "PT-7731", 1988, bmi=24.5, ethnicity="Mixed White and Asian",
        pregnancies=(
            PregnancyRecord(1, Outcome.MISCARRIAGE, 7.0, outcome_date=dt.date(2019, 2, 3)),
            PregnancyRecord(2, Outcome.MISCARRIAGE, 9.5, karyotype=KaryotypeResult.NORMAL,
                            outcome_date=dt.date(2019, 9, 14)),
            PregnancyRecord(3, Outcome.LIVE_BIRTH, 39.0, outcome_date=dt.date(2021, 1, 20)),
            PregnancyRecord(4, Outcome.MISCARRIAGE, 6.0, outcome_date=dt.date(2022, 5, 2)),
        ),
        investigations=(
            InvestigationRecord("tsh", Interpretation.NORMAL, dt.date(2022, 7, 1), 2.1,
                                "mIU/L"),
            InvestigationRecord("lupus_anticoagulant", Interpretation.NORMAL,
                                dt.date(2022, 7, 1), text="seen by Dr Example"),
        ),
        biopsies=(
            BiopsyRecord("PT-7731-B1", dt.date(2023, 3, 10), dt.date(2023, 3, 2), 1,
                         clinic_call=DecidualCall.ABNORMAL),
            BiopsyRecord("PT-7731-B2", dt.date(2023, 5, 12), dt.date(2023, 5, 5), 2,
                         clinic_call=DecidualCall.NORMAL),
            BiopsyRecord("PT-7731-B3", dt.date(2023, 8, 11), dt.date(2023, 8, 3), 3,
                         on_treatment=True, clinic_call=DecidualCall.ABNORMAL),
        ),
    )


SHA = "5f" * 32


@pytest.fixture
def biopsy_docs() -> dict:
    """What ``decidua biopsy show --json`` gives for B1 (a qPCR result and its placement)."""
    return {"PT-7731-B1": {
        "call": "uncallable", "reasons": ["no screening rule is implemented yet"],
        "rule_version": None,
        "timing": {"estimated_lh_day": 6.42, "interval": [5.1, 7.8], "callable": True},
        "components": [{"name": "timing", "value": 6.42, "centile": None,
                        "reference": "default sha256:abc", "flag": None},
                       {"name": "IL15 dCq", "value": 3.217, "centile": None,
                        "reference": None, "flag": "high_sd"}],
        "results": [{"kind": "qpcr", "result_key": "plate=1", "qc_status": "pass",
                     "source_file": "plate-PT-7731.csv", "source_sha256": SHA,
                     "importer_version": "decidua.io.qpcr/1", "analysis_version": None},
                    {"kind": "timing", "result_key": "t", "qc_status": "pass",
                     "source_file": "plate-PT-7731.csv", "source_sha256": SHA,
                     "importer_version": "decidua.io.qpcr/1",
                     "analysis_version": "default sha256:abc"}]}}


def _pdf_pages(data: bytes) -> list[str]:
    from pypdf import PdfReader

    return [p.extract_text() for p in PdfReader(io.BytesIO(data)).pages]


def _printed_images(pdf: bytes) -> list[tuple[int, float, float]]:
    """Each image drawn on each page of ``pdf``: its width in pixels and its printed width
    and height in inches, from the transformation matrix in force where the page's content
    stream paints it (``Do``: the image fills the unit square of that matrix)."""
    from pypdf import PdfReader

    out = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        xobjects = page["/Resources"].get("/XObject", {})

        def visit(op, args, cm, tm, xobjects=xobjects):  # type: ignore[no-untyped-def]
            if op != b"Do" or args[0] not in xobjects:
                return
            x = xobjects[args[0]].get_object()
            if x.get("/Subtype") != "/Image":  # pragma: no cover - WeasyPrint paints none
                return
            a, b, c, d = cm[:4]
            out.append((int(x["/Width"]), (a * a + b * b) ** 0.5 / 72,
                        (c * c + d * d) ** 0.5 / 72))

        page.extract_text(visitor_operand_before=visit)
    return out



@pytest.fixture
def printed_images():  # type: ignore[no-untyped-def]
    """:func:`_printed_images` as a fixture: ``printed_images(pdf) -> [(px, w_in, h_in)]``."""
    return _printed_images


@pytest.fixture
def pdf_pages():  # type: ignore[no-untyped-def]
    """Text of each page of a PDF (pypdf): ``pdf_pages(data) -> list[str]``."""
    return _pdf_pages


EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "import"
runner = CliRunner()


def qpcr_plate(tmp_path: Path, shift: float = 0.0, name: str = "plate") -> tuple[Path, Path]:
    """A synthetic plate (known ΔCq: EndoTime training biopsies) and its biopsy map."""
    from decidua.assays.timing import GENES, load_endotime_training_data

    codes = ["EX-001-B1", "EX-001-B2", "EX-002-B1", "EX-003-B1"]
    train = load_endotime_training_data().head(len(codes))
    rows = [("well", "sample", "target", "cq")]
    for i, (_, t) in enumerate(train.iterrows()):
        col = 1
        for target, level in [("RPL19", 0.0)] + [(g, float(t[g])) for g in GENES]:
            for d in (-0.05, 0.05):
                cq = f"{20 + level + d + shift:.6f}"
                rows.append((f"{'ABCD'[i]}{col}", f"S{i + 1}", target, cq))
                col += 1
    plate, bmap = tmp_path / f"{name}.csv", tmp_path / f"{name}-map.csv"
    with plate.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    with bmap.open("w", newline="") as fh:
        csv.writer(fh).writerows([("sample", "biopsy_id"),
                                  *((f"S{i + 1}", c) for i, c in enumerate(codes))])
    return plate, bmap


@pytest.fixture
def make_plate():  # type: ignore[no-untyped-def]
    """:func:`qpcr_plate` as a fixture."""
    return qpcr_plate


@pytest.fixture
def loaded(db: str, tmp_path: Path) -> str:
    """The example records and a synthetic qPCR plate stored on four biopsies; users
    rita (researcher), cleo (clinician), sam (scientist, "Sam Scientist")."""
    from decidua.cli import app

    for kind in ("patients", "pregnancies", "investigations", "biopsies", "interventions"):
        res = runner.invoke(app, ["--db", db, "import", kind, str(EXAMPLES / f"{kind}.csv")])
        assert res.exit_code == 0, res.output
    plate, bmap = qpcr_plate(tmp_path)
    res = runner.invoke(app, ["--db", db, "import", "qpcr", str(plate), "--biopsy-map",
                              str(bmap)])
    assert res.exit_code == 0, res.output
    for user, role in (("rita", "researcher"), ("cleo", "clinician"), ("sam", "scientist")):
        res = runner.invoke(app, ["--db", db, "users", "add", user, "--role", role,
                                  "--name", f"{user.title()} {role.title()}"])
        assert res.exit_code == 0, res.output
    return db


