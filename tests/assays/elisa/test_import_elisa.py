"""`decidua import elisa FILE --biopsy-map MAP.csv` -> results on biopsies -> `biopsy show`,
through the real CLI on a migrated database (SQLite; PostgreSQL when configured).

Plates: a synthetic OD grid with known truth (a 4PL, a 0.05, b 1.2, c 150, d 3.2;
8 standards 0-500 in duplicate; samples at known concentrations and dilutions),
whose stored concentrations must come back as the truth; and the real Gen5
export in tests/data/elisa (provenance in its README), whose stored values must
equal what `decidua elisa fit` prints for the same samples.

Issue #15 also: stored ELISA concentrations and the pro-senescent index appear in
`decidua biopsy show` (and `--json`) as shown-only components with their centile or
"no reference"; ELISA rows stored before the `elisa` kind (kind `decidualization`)
still read. The senescence plate is the hand-written SYNTHETIC qPCR plate of
tests/data/senescence (index -4.0 for "decidual", +4.0 for "senescent"; its README).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from decidua.assays.elisa import models
from decidua.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples" / "import"
GEN5 = REPO / "tests" / "data" / "elisa" / "gen5_fluorescamine_4pl.txt"
TRUTH = (0.05, 1.2, 150.0, 3.2)
LEVELS = [0, 7.8, 15.6, 31.25, 62.5, 125, 250, 500]
#: sample -> (true concentration, dilution, biopsy, culture day)
SAMPLES = {"d0": (20.0, 1.0, "EX-001-B1", 0), "d4": (160.0, 2.0, "EX-001-B1", 4),
           "d8": (400.0, 4.0, "EX-001-B1", 8), "e0": (30.0, 1.0, "EX-002-B1", 0)}
_DB: list[str] = []


def cli(*args):
    return runner.invoke(app, ["--db", _DB[-1], *map(str, args)])


def snapshot(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from decidua.store import models as m
    from decidua.store.session import session_scope

    with session_scope(url) as s:
        return {t.name: s.scalar(select(func.count()).select_from(t))
                for t in m.Base.metadata.sorted_tables}


@pytest.fixture
def loaded(db):
    _DB.append(db)
    for kind in ("patients", "biopsies"):
        res = cli("import", kind, EXAMPLES / f"{kind}.csv")
        assert res.exit_code == 0, res.output
    return db


def write_grid(tmp: Path, od_edit=None) -> tuple[Path, Path]:
    grid = np.full((8, 12), "", dtype=object)
    rows = ["well,role,concentration,dilution,sample"]
    for r, conc in enumerate(LEVELS):
        for c in range(2):
            grid[r, c] = f"{models.logistic4(np.array([conc]), *TRUTH)[0]:.6f}"
            rows.append(f"{'ABCDEFGH'[r]}{c + 1},standard,{conc},,std{r}")
    for k, (name, (conc, dil, _, _)) in enumerate(SAMPLES.items()):
        for c in (2, 3):
            grid[k, c] = f"{models.logistic4(np.array([conc / dil]), *TRUTH)[0]:.6f}"
            rows.append(f"{'ABCDEFGH'[k]}{c + 1},sample,,{dil},{name}")
    for (r, c), v in (od_edit or {}).items():
        grid[r, c] = v
    g = tmp / "plate1.csv"
    g.write_text("," + ",".join(map(str, range(1, 13))) + "\n" + "\n".join(
        "ABCDEFGH"[r] + "," + ",".join(grid[r]) for r in range(8)) + "\n")
    m = tmp / "platemap.csv"
    m.write_text("\n".join(rows) + "\n")
    return g, m


def write_map(tmp: Path, rows=None) -> Path:
    p = tmp / "biopsy_map.csv"
    if rows is None:
        rows = [f"{s},{b},{d},cAMP+MPA,PRL" for s, (_, _, b, d) in SAMPLES.items()]
    p.write_text("sample,biopsy_id,culture_day,treatment,analyte\n" + "\n".join(rows) + "\n")
    return p


def test_import_stores_known_concentrations_with_provenance(loaded, tmp_path):
    grid, pmap = write_grid(tmp_path)
    bmap = write_map(tmp_path)
    res = cli("import", "elisa", grid, "--map", pmap, "--biopsy-map", bmap, "--analyte",
              "PRL", "--json")
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    assert rep["inserted"] == 4 and rep["sha256"] == hashlib.sha256(grid.read_bytes()).hexdigest()
    show = cli("biopsy", "show", "EX-001-B1", "--json")
    assert show.exit_code == 0, show.output
    stored = [r for r in json.loads(show.stdout)["results"] if r["kind"] == "elisa"]
    assert len(stored) == 3
    for r in stored:
        v = r["values"]
        assert v["assay"] == "elisa"
        conc, _, _, day = SAMPLES[v["sample"]]
        assert v["concentration"] == pytest.approx(conc, rel=1e-3)
        assert v["culture_day"] == day and v["treatment"] == "cAMP+MPA" and v["analyte"] == "PRL"
        assert r["source_sha256"] == rep["sha256"] and r["source_file"] == "plate1.csv"
        assert r["importer_version"] == "decidua.io.elisa/1"
        assert r["analysis_version"] == "decidua.assays.elisa:4pl:none"
        assert len(v["wells"]) == 2 and v["curve"]["model"] == "4pl"
    # the same file again adds nothing
    again = cli("import", "elisa", grid, "--map", pmap, "--biopsy-map", bmap, "--analyte",
                "PRL", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["unchanged"] == 4


def test_real_gen5_export_matches_elisa_fit(loaded, tmp_path):
    bmap = write_map(tmp_path, ["SPL1,EX-001-B1,0,cAMP+MPA,IGFBP1",
                                "SPL2,EX-001-B1,8,cAMP+MPA,IGFBP1",
                                "SPL17,EX-002-B1,0,vehicle,IGFBP1"])
    fit = runner.invoke(app, ["elisa", "fit", str(GEN5), "--json"])
    want = {s["sample"]: s for p in json.loads(fit.stdout)["plates"] for s in p["samples"]}
    res = cli("import", "elisa", GEN5, "--biopsy-map", bmap, "--json")
    assert res.exit_code == 0, res.output
    got = {r["sample"]: r for r in json.loads(res.stdout)["results"]}
    assert set(got) == {"SPL1", "SPL2", "SPL17"}
    for s, r in got.items():
        assert r["concentration"] == pytest.approx(want[s]["mean_concentration"], rel=1e-12)
        assert r["flag"] == want[s]["flag"]
    assert got["SPL17"]["flag"] == "below_lloq"
    show = json.loads(cli("biopsy", "show", "EX-002-B1", "--json").stdout)
    (r,) = [x for x in show["results"] if x["kind"] == "elisa"]
    assert r["qc_status"] == "pending"  # flagged below LLOQ


@pytest.mark.parametrize(("case", "want"), [
    ("unknown biopsy", r"biopsy_map.csv, row 2, column 'biopsy_id'.*unknown biopsy 'NOPE'"),
    ("bad day", r"row 2, column 'culture_day'"),
    ("not on plate", r"row 2, column 'sample'.*'zz' \(PRL\) is on no plate"),
    ("missing column", r"missing: analyte"),
    ("non-numeric OD", r"plate 'plate1', well C4, field 'od'"),
])
def test_bad_input_exit_1_nothing_stored(loaded, tmp_path, case, want):
    import re

    grid, pmap = write_grid(tmp_path, od_edit={(2, 3): "OVRFLW"} if case == "non-numeric OD"
                            else None)
    first = {"unknown biopsy": "d0,NOPE,0,cAMP+MPA,PRL", "bad day": "d0,EX-001-B1,-1,x,PRL",
             "not on plate": "zz,EX-001-B1,0,x,PRL"}.get(case)
    rows = [f"{s},{b},{d},cAMP+MPA,PRL" for s, (_, _, b, d) in SAMPLES.items()]
    bmap = write_map(tmp_path, [first, *rows[1:]] if first else rows)
    if case == "missing column":
        bmap.write_text("sample,biopsy_id,culture_day,treatment\nd0,EX-001-B1,0,x\n")
    before = snapshot(loaded)
    res = cli("import", "elisa", grid, "--map", pmap, "--biopsy-map", bmap, "--analyte", "PRL")
    out = res.stderr if getattr(res, "stderr", None) else res.output
    assert res.exit_code == 1, out
    assert re.search(want, " ".join(out.split())), out
    assert snapshot(loaded) == before


def test_import_elisa_needs_biopsy_map(loaded, tmp_path):
    grid, pmap = write_grid(tmp_path)
    res = cli("import", "elisa", grid, "--map", pmap)
    assert res.exit_code == 1 and "--biopsy-map" in (res.stderr or res.output)


def test_stored_results_give_a_time_course_and_a_stored_call(loaded, tmp_path):
    """import elisa -> decidualization biopsy --save -> biopsy show (fold changes known)."""
    from decidua.assays.decidualization import DecidualizationReference, time_courses
    from decidua.assays.decidualization.synthetic import synthetic_cultures

    grid, pmap = write_grid(tmp_path)
    res = cli("import", "elisa", grid, "--map", pmap, "--biopsy-map", write_map(tmp_path),
              "--analyte", "PRL")
    assert res.exit_code == 0, res.output
    ref = tmp_path / "ref.json"
    DecidualizationReference(version="synthetic-40").fit(time_courses(
        synthetic_cultures(40, seed=5, class_probs=(0, 1, 0))[0])).save(ref)
    r = cli("decidualization", "biopsy", "EX-001-B1", "--reference", ref, "--save", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    (prl,) = doc["course"]["markers"]
    assert prl["days"] == [0, 4, 8]
    assert prl["fold_change"] == pytest.approx([1.0, 8.0, 20.0], rel=2e-3)  # 160/20, 400/20
    assert doc["call"]["response_class"] in ("normal", "blunted", "excessive")
    show = json.loads(cli("biopsy", "show", "EX-001-B1", "--json").stdout)
    saved = [x for x in show["results"] if x["values"].get("assay") == "time_course"]
    assert len(saved) == 1 and saved[0]["id"] == doc["saved_result_id"]
    assert saved[0]["values"]["call"]["reference_version"] == "synthetic-40"
    again = json.loads(cli("decidualization", "biopsy", "EX-001-B1", "--reference", ref,
                           "--save", "--json").stdout)
    assert again["saved_result_id"] == doc["saved_result_id"]  # same inputs: nothing added


SEN_PLATE = Path(__file__).resolve().parents[2] / "data" / "senescence" / "index_plate.csv"


def _show(code: str) -> dict:
    r = cli("biopsy", "show", code, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _components(doc: dict) -> dict[str, dict]:
    return {c["name"]: c for c in doc["components"]}


def test_elisa_results_are_components_with_no_reference(loaded, tmp_path):
    grid, pmap = write_grid(tmp_path)
    res = cli("import", "elisa", grid, "--map", pmap, "--biopsy-map", write_map(tmp_path),
              "--analyte", "PRL")
    assert res.exit_code == 0, res.output
    doc = _show("EX-001-B1")
    kinds = {r["kind"] for r in doc["results"]}
    assert "elisa" in kinds and "decidualization" not in kinds
    comps = _components(doc)
    for sample, (conc, _, code, day) in SAMPLES.items():
        if code != "EX-001-B1":
            continue
        c = comps[f"PRL ELISA day {day:g} (cAMP+MPA)"]
        assert c["value"] == pytest.approx(conc, rel=1e-3), sample
        assert c["status"] == "info" and c["flag"] is None and c["centile"] is None
        assert c["detail"].startswith("no reference")
    # shown, not used: the call is what it is without them (no timing -> uncallable)
    assert doc["call"] == "uncallable"
    text = cli("biopsy", "show", "EX-001-B1")
    assert text.exit_code == 0 and "PRL ELISA day 8" in text.output


def test_elisa_components_take_the_stored_time_course_centiles(loaded, tmp_path):
    from decidua.assays.decidualization import DecidualizationReference, time_courses
    from decidua.assays.decidualization.synthetic import synthetic_cultures

    grid, pmap = write_grid(tmp_path)
    assert cli("import", "elisa", grid, "--map", pmap, "--biopsy-map", write_map(tmp_path),
               "--analyte", "PRL").exit_code == 0
    ref = tmp_path / "ref.json"
    fitted = DecidualizationReference(version="synthetic-40").fit(time_courses(
        synthetic_cultures(40, seed=5, class_probs=(0, 1, 0))[0]))
    fitted.save(ref)
    r = cli("decidualization", "biopsy", "EX-001-B1", "--reference", ref, "--save", "--json")
    assert r.exit_code == 0, r.output
    course = json.loads(r.stdout)
    comps = _components(_show("EX-001-B1"))
    (prl,) = course["call"]["markers"]
    for dc in prl["day_centiles"]:
        c = comps[f"PRL ELISA day {dc['day']:g} (cAMP+MPA)"]
        assert c["centile"] == pytest.approx(dc["centile"])
        assert c["reference"].startswith("synthetic-40")
    # independent check: the centile of the known fold change (400/20 = 20 on day 8)
    assert comps["PRL ELISA day 8 (cAMP+MPA)"]["centile"] == pytest.approx(
        fitted.centile("PRL", 8.0, 400.0 / 20.0), rel=5e-3)
    assert comps["PRL ELISA day 0 (cAMP+MPA)"]["centile"] is None
    resp = comps["decidualization response"]
    assert resp["value"] == pytest.approx(course["call"]["median_centile"])
    assert course["call"]["response_class"] in resp["detail"]


def test_elisa_rows_stored_under_the_old_kind_still_read(loaded, tmp_path):
    """A row as the importer wrote it before revision 0008 (kind decidualization)."""
    from sqlalchemy import select

    from decidua.services.decidualization import stored_course
    from decidua.store import models as m
    from decidua.store.session import session_scope

    with session_scope(loaded) as s:
        b = s.scalar(select(m.Biopsy).where(m.Biopsy.code == "EX-002-B1"))
        for day, conc in ((0, 25.0), (8, 250.0)):
            s.add(m.AssayResult(biopsy_id=b.id, kind="decidualization",
                                result_key=f"elisa:legacy:P1:PRL:s{day}", qc_status="pass",
                                values={"assay": "elisa", "sample": f"s{day}", "plate": "P1",
                                        "analyte": "PRL", "culture_day": day,
                                        "treatment": "cAMP+MPA", "concentration": conc,
                                        "flag": None, "wells": []}))
    comps = _components(_show("EX-002-B1"))
    assert comps["PRL ELISA day 8 (cAMP+MPA)"]["value"] == 250.0
    with session_scope(loaded) as s:
        doc = stored_course(s, "tester", "EX-002-B1")
    (mk,) = doc["course"]["markers"]
    assert mk["fold_change"] == pytest.approx([1.0, 10.0])


def test_senescence_index_stored_on_analyse_and_shown(loaded, tmp_path):
    mp = tmp_path / "map.csv"
    mp.write_text("sample,biopsy_id\ndecidual,EX-001-B1\nsenescent,EX-002-B1\n")
    res = cli("import", "qpcr", SEN_PLATE, "--biopsy-map", mp, "--json")
    assert res.exit_code == 0, res.output
    for code, want in (("EX-001-B1", -4.0), ("EX-002-B1", 4.0)):
        c = _components(_show(code))["pro-senescent index"]
        assert c["value"] == pytest.approx(want, abs=1e-9)
        assert c["status"] == "info" and c["centile"] is None
        assert c["detail"].startswith("no reference")
    r = cli("biopsy", "analyse", "EX-001-B1", "EX-002-B1", "--json")
    assert r.exit_code == 0, r.output
    for code, want in (("EX-001-B1", -4.0), ("EX-002-B1", 4.0)):
        doc = _show(code)
        (sen,) = [x for x in doc["results"] if x["kind"] == "senescence"]
        qpcr = next(x for x in doc["results"] if x["kind"] == "qpcr")
        assert sen["derived_from_id"] == qpcr["id"]
        assert sen["values"]["index"]["estimate"] == pytest.approx(want, abs=1e-9)
        assert sen["analysis_version"].startswith("decidua.assays.senescence")
        assert _components(doc)["pro-senescent index"]["value"] == pytest.approx(want)
    again = cli("biopsy", "analyse", "EX-001-B1", "--json")
    assert json.loads(again.stdout)["summary_results"] == 0  # stored once per qPCR result
