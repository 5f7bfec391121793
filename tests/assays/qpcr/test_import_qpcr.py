"""`decidua import qpcr` -> stored ΔCq and timing placement -> `decidua biopsy show`,
through the real CLI on a migrated database (SQLite; PostgreSQL when configured).

The plate is synthetic with known truth: each sample's Cqs are built from the ΔCt of
one EndoTime training biopsy (Cq(gene) = ref level + ΔCt, symmetric duplicates), so
its ΔCq must come back as that ΔCt.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from decidua.assays.timing import GENES, load_endotime_training_data
from decidua.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "import"


def snapshot(url: str) -> dict[str, int]:
    """Row counts of every table (nothing stored = all equal)."""
    from sqlalchemy import func, select

    from decidua.store import models as m
    from decidua.store.session import session_scope

    with session_scope(url) as s:
        return {t.name: s.scalar(select(func.count()).select_from(t))
                for t in m.Base.metadata.sorted_tables}
BIOPSIES = ["EX-001-B1", "EX-001-B2", "EX-002-B1", "EX-003-B1"]


_DB: list[str] = []


def cli(*args):
    return runner.invoke(app, ["--db", _DB[-1], *map(str, args)])


def _err(res):
    return res.stderr if getattr(res, "stderr", None) else res.output


@pytest.fixture
def loaded(db):
    _DB.append(db)
    for kind in ("patients", "biopsies"):
        res = cli("import", kind, EXAMPLES / f"{kind}.csv")
        assert res.exit_code == 0, res.output
    return db


def _plate(tmp_path: Path, *, extra_target: str | None = None) -> tuple[Path, dict]:
    train = load_endotime_training_data().head(len(BIOPSIES))
    rows = [("well", "sample", "target", "cq")]
    truth = {}
    letters = "ABCDEFGH"
    for i, (_, t) in enumerate(train.iterrows()):
        sample = f"S{i + 1}"
        truth[sample] = {g: float(t[g]) for g in GENES}
        col = 1
        for target, level in [("RPL19", 0.0)] + [(g, float(t[g])) for g in GENES] + [
                ("DIO2", 6.0)]:
            for d in (-0.05, 0.05):
                rows.append((f"{letters[i]}{col}", sample, target, f"{20.0 + level + d:.6f}"))
                col += 1
    rows.append(("H12", "NTC", "RPL19", ""))
    if extra_target:
        rows.append(("A15", "S1", extra_target, "25.0"))
    p = tmp_path / "plate.csv"
    with p.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return p, truth


def _map(tmp_path: Path, codes=BIOPSIES) -> Path:
    p = tmp_path / "map.csv"
    p.write_text("sample,biopsy_id\n" + "".join(
        f"S{i + 1},{c}\n" for i, c in enumerate(codes)))
    return p


def test_import_then_show_equals_timing_place_default(loaded, tmp_path):
    plate, truth = _plate(tmp_path)
    mp = _map(tmp_path)
    res = cli("import", "qpcr", plate, "--biopsy-map", mp, "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["inserted"] == 2 * len(BIOPSIES)  # one qPCR + one placement each
    batch = report["batch"]
    assert batch == "qpcr-" + hashlib.sha256(plate.read_bytes()).hexdigest()[:12]

    shown = {}
    for code in BIOPSIES:
        r = cli("biopsy", "show", code, "--json")
        assert r.exit_code == 0, r.output
        shown[code] = json.loads(r.stdout)
    doc = shown["EX-001-B1"]
    assert {"biopsy", "call", "reasons", "components", "rule_version"} <= set(doc)
    assert doc["call"] == "uncallable"  # never normal by default
    qres = next(x for x in doc["results"] if x["kind"] == "qpcr")
    assert qres["source_sha256"] == hashlib.sha256(plate.read_bytes()).hexdigest()
    assert qres["importer_version"].startswith("decidua.io.qpcr/")
    markers = qres["values"]["markers"]
    for g in GENES:  # known truth: ΔCq equals the ΔCt the plate was built from
        assert markers[g]["delta_cq"] == pytest.approx(truth["S1"][g], abs=1e-6)  # 6 dp Cqs
    assert markers["DIO2"]["delta_cq"] == pytest.approx(6.0)
    tres = next(x for x in doc["results"] if x["kind"] == "timing")
    assert tres["derived_from_id"] == qres["id"] and tres["analysis_version"].startswith(
        "default sha256:")

    # the same ΔCq through `qpcr quantify` and `timing place default`
    q = json.loads(cli("qpcr", "quantify", plate, "--json").stdout)
    lh = {code: shown[code]["lh_day"] for code in BIOPSIES}
    place_csv = tmp_path / "place.csv"
    with place_csv.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ID", "BATCH", "LH", *GENES])
        for i, code in enumerate(BIOPSIES):
            d = {r["target"]: r["delta_cq"] for r in q["results"] if r["sample"] == f"S{i+1}"}
            w.writerow([code, batch, lh[code], *(repr(d[g]) for g in GENES)])
    placed = cli("timing", "place", "default", place_csv, "--json")
    assert placed.exit_code == 0, placed.output
    rows = json.loads(placed.stdout)
    rows = rows["biopsies"] if isinstance(rows, dict) else rows
    assert len(rows) == len(BIOPSIES)
    for row in rows:
        stored = shown[row["ID"]]["timing"]
        for key in ("estimated_lh_day", "interval", "asynchrony_score", "asynchronous",
                    "out_of_phase_probability", "batch_shift"):
            assert stored[key] == row[key], (row["ID"], key)
        comp = next(c for c in shown[row["ID"]]["components"] if c["name"] == "timing")
        assert comp["value"] == row["estimated_lh_day"]
        # 4 biopsies on one plate: too few to estimate the plate's shift
        assert stored["callable"] is False and "too few" in stored["uncallable_reason"]


def test_reimport_adds_nothing_and_new_reference_adds_a_result(loaded, tmp_path):
    from decidua.assays.timing import load_default_reference
    from decidua.services import biopsies
    from decidua.store.session import session_scope

    plate, _ = _plate(tmp_path)
    mp = _map(tmp_path)
    dry = cli("import", "qpcr", plate, "--biopsy-map", mp, "--dry-run")
    assert dry.exit_code == 0 and "DRY RUN" in dry.stdout
    assert [r for r in json.loads(cli("biopsy", "show", "EX-002-B1", "--json").stdout)[
        "results"]] == []  # the dry run stored nothing
    first = cli("import", "qpcr", plate, "--biopsy-map", mp)
    assert first.exit_code == 0, first.output
    assert "inserted 8" in first.stdout and "UNCALLABLE" in first.stdout
    text = cli("biopsy", "show", "EX-002-B1")
    assert text.exit_code == 0 and "timing" in text.stdout and "IGFBP1 dCq" in text.stdout
    again = json.loads(cli("import", "qpcr", plate, "--biopsy-map", mp, "--json").stdout)
    assert again["inserted"] == 0 and again["unchanged"] == 2 * len(BIOPSIES)
    with session_scope(loaded) as s:
        rep = biopsies.import_qpcr(s, "tester", plate, mp, reference=load_default_reference(),
                                   reference_version="test-reference-v2")
    assert rep.inserted == len(BIOPSIES)  # one new placement each; qPCR results kept
    doc = json.loads(cli("biopsy", "show", "EX-002-B1", "--json").stdout)
    timings = [r for r in doc["results"] if r["kind"] == "timing"]
    assert [t["analysis_version"] for t in timings][1] == "test-reference-v2"
    assert len(timings) == 2  # the old placement is still there
    assert doc["timing"]["reference_version"] == "test-reference-v2"


def test_bad_map_and_targets_store_nothing(loaded, tmp_path):
    plate, _ = _plate(tmp_path)
    before = snapshot(loaded)
    bad = _map(tmp_path, codes=["EX-001-B1", "EX-999-B9", "EX-002-B1", "EX-003-B1"])
    res = cli("import", "qpcr", plate, "--biopsy-map", bad)
    assert res.exit_code == 1
    msg = _err(res)
    assert str(bad) in msg and "row 3" in msg and "'biopsy_id'" in msg and "EX-999-B9" in msg
    assert snapshot(loaded) == before

    plate2, _ = _plate(tmp_path, extra_target="IGBP1")
    res = cli("import", "qpcr", plate2, "--biopsy-map", _map(tmp_path))
    assert res.exit_code == 1
    msg = _err(res)
    assert "IGBP1" in msg and "marker panel" in msg and "'target'" in msg and str(plate2) in msg
    assert snapshot(loaded) == before

    res = cli("import", "qpcr", plate)
    assert res.exit_code == 1 and "--biopsy-map" in _err(res)
    res = cli("biopsy", "show", "NOPE", "--json")
    assert res.exit_code == 1 and "NOPE" in _err(res)


def test_plate_with_enough_biopsies_gets_its_own_shift(db, tmp_path):
    """12 biopsies on one plate (>= MIN_NEW_BATCH_SIZE): the plate is brought onto the
    reference by its own batch shift, and the placements are callable."""
    from decidua.assays.timing import MIN_NEW_BATCH_SIZE

    _DB.append(db)
    n = 12
    assert n >= MIN_NEW_BATCH_SIZE
    train = load_endotime_training_data().head(n)
    (tmp_path / "patients.csv").write_text("patient_id,year_of_birth,study_group\n" + "".join(
        f"PL-{i:02d},1990,rpl\n" for i in range(n)))
    (tmp_path / "biopsies.csv").write_text(
        "biopsy_id,patient_id,cycle_number,lh_surge_date,biopsy_date\n" + "".join(
            f"PL-{i:02d}-B1,PL-{i:02d},1,2024-03-01,2024-03-{1 + int(t['LH']):02d}\n"
            for i, (_, t) in enumerate(train.iterrows())))
    for kind in ("patients", "biopsies"):
        assert cli("import", kind, tmp_path / f"{kind}.csv").exit_code == 0
    rows = ["well,sample,target,cq"]
    k = 0
    for i, (_, t) in enumerate(train.iterrows()):
        for g in ("RPL19", *GENES):
            rows.append(f"{'ABCDEFGHIJKLMNOP'[k // 24]}{k % 24 + 1},S{i},{g},"
                        f"{20.0 + (0.0 if g == 'RPL19' else float(t[g])):.4f}")
            k += 1
    plate = tmp_path / "plate384.csv"
    plate.write_text("\n".join(rows) + "\n")
    mp = tmp_path / "map12.csv"
    mp.write_text("sample,biopsy_id\n" + "".join(f"S{i},PL-{i:02d}-B1\n" for i in range(n)))
    res = cli("import", "qpcr", plate, "--biopsy-map", mp, "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert all(b["placement"]["callable"] for b in report["biopsies"])
    assert {b["placement"]["batch_shift"] for b in report["biopsies"]} == {"new batch"}
    doc = json.loads(cli("biopsy", "show", "PL-03-B1", "--json").stdout)
    assert next(c for c in doc["components"] if c["name"] == "timing")["flag"] != "uncallable"
