"""The demo's SYNTHETIC assay generator and the screening call measured against its truth.

Checked against a documented synthetic generator with known truth
(``decidua.synthetic.assays``; latent ``defective_cycle`` in ``truth.csv``): the shipped
files are exactly what the seeded generator writes, the drawn effects go the published
way, and the call computed on the demo database after ``decidua demo`` meets the bounds
docs/demo.md reports.
"""

from __future__ import annotations

import csv
import filecmp
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from decidua.cli import app
from decidua.services.demo import assays_dir, demo_accuracy, demo_dir
from decidua.synthetic.assays import (
    REFERENCE_GENE,
    TIMING_GENES,
    generate_assays,
    training_curves,
    write_assays,
)

runner = CliRunner()


def _truth() -> list[dict[str, str]]:
    with (demo_dir() / "truth.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_shipped_files_are_what_the_seeded_generator_writes(tmp_path: Path) -> None:
    out = write_assays(demo_dir() / "truth.csv", tmp_path)
    shipped = sorted(p.relative_to(assays_dir()) for p in assays_dir().rglob("*.csv"))
    made = sorted(p.relative_to(out) for p in out.rglob("*.csv"))
    assert shipped == made and len(made) > 4
    for rel in made:
        assert filecmp.cmp(out / rel, assays_dir() / rel, shallow=False), rel


def test_plates_are_callable_and_cover_every_biopsy_once() -> None:
    truth = _truth()
    a = generate_assays(truth)
    mapped = [r["biopsy_id"] for m in a.maps for r in m]
    assert sorted(mapped) == sorted(r["biopsy_id"] for r in truth)
    for wells, pmap in zip(a.plates, a.maps, strict=True):
        assert len(pmap) >= 10  # a plate of >= 10 biopsies gets its own shift
        assert len({w["well"] for w in wells}) == len(wells) <= 384
        assert {w["target"] for w in wells} == {*TIMING_GENES, REFERENCE_GENE}
    assert generate_assays(truth[:30], seed=5) == generate_assays(truth[:30], seed=5)


def test_effects_go_the_published_way() -> None:
    truth = _truth()
    a = generate_assays(truth)
    bad = {r["biopsy_id"] for r in truth if r["defective_cycle"] == "true"}
    day = {r["biopsy_id"]: float(r["true_lh_day"]) for r in truth}
    lag = np.array([day[b] - a.expression_day[b] for b in bad])
    assert lag.min() >= 3.0 and lag.max() <= 5.0  # out of phase: >= 3 days (Castelbaum)

    def rate(rows, num, den):  # noqa: ANN001, ANN202
        tot = {True: [0, 0], False: [0, 0]}
        for r in rows:
            t = tot[r["biopsy_id"] in bad]
            t[0] += r[num]
            t[1] += r[den]
        return tot[True][0] / tot[True][1], tot[False][0] / tot[False][1]

    cfu_bad, cfu_ok = rate(a.cfu, "colonies", "cells_seeded")
    assert 1.2 < cfu_ok / cfu_bad < 1.9  # Tewary 2020 ratio 1.52, sampling error
    unk_bad, unk_ok = rate(a.unk, "cd56_positive", "stromal_cells")
    assert 0.05 < unk_ok < 0.075 and 0.09 < unk_bad < 0.135  # Tuckerman 6.2 % / 11.2 %


def test_curves_follow_the_reference_genes() -> None:
    c = training_curves()
    # IGFBP1 rises through the luteal phase (ΔCq falls: higher = less expression)
    j = TIMING_GENES.index("IGFBP1")
    assert c.at(12)[j] < c.at(6)[j] - 2
    assert np.all(np.linalg.eigvalsh(c.cov) > 0)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    where = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{where / 'demo.sqlite'}"
    # module-scoped: the per-test $DECIDUA_USER is set here too (the demo makes it admin)
    env = {"DECIDUA_USER": "tester", "DECIDUA_DATA_DIR": str(where / "var")}
    r = runner.invoke(app, ["demo", "--database", url], env=env)
    assert r.exit_code == 0, r.output
    assert "computed calls" in r.output
    return url


def test_call_against_truth_meets_the_bounds_that_hold(demo_db: str) -> None:
    from decidua.store.session import session_scope, set_default_url

    set_default_url(demo_db)
    with session_scope() as s:
        acc = demo_accuracy(s)
    assert acc["n"] == len(_truth())
    # issue 12 targets (docs/demo.md, rule 2026.12-2: measured 0.68 / 0.78 / 0.73 / 19.6 %)
    assert acc["uncallable_share"] <= 0.20
    assert acc["balanced_accuracy"] >= 0.70
    assert acc["sensitivity"] >= 0.62 and acc["specificity"] >= 0.72


def test_demo_fits_its_cfu_reference_from_stored_results_and_cfu_enters_the_calls(
        demo_db: str) -> None:
    from sqlalchemy import select

    from decidua.services.demo import DEMO_CFU_POPULATION
    from decidua.store import models as m
    from decidua.store.session import session_scope, set_default_url

    set_default_url(demo_db)
    with session_scope() as s:
        refs = list(s.scalars(select(m.MarkerReference)))
        assert [r.marker for r in refs] == ["cfu_pct"]
        # fitted from the stored CFU % of the untreated biopsies (never from truth.csv)
        n_untreated = len(list(s.scalars(select(m.Biopsy.id).where(~m.Biopsy.on_treatment))))
        assert refs[0].n == n_untreated
        assert refs[0].data["info"]["population"] == DEMO_CFU_POPULATION
        calls = list(s.scalars(select(m.BiopsyCall)))
        cfu = [next(c for c in call.components if c["name"] == "cfu") for call in calls]
        assessed = [c for c in cfu if c["status"] in ("normal", "abnormal")]
        assert len(assessed) >= 0.9 * len(calls)
        # at the 5th centile of the cohort's own mixture: about 5 % flagged low
        low = sum(c["flag"] == "low" for c in assessed) / len(assessed)
        assert 0.02 < low < 0.09
        # an asynchronous biopsy's estimate is unreliable: its markers are read by LH day
        odd = [c for c in calls if any(x["name"] == "asynchrony" and x["flag"] == "asynchronous"
                                       for x in c.components)]
        assert odd and all(c.evidence["day_basis"] == "by LH day (timing asynchronous)"
                           and c.evidence["day"] == c.evidence["lh_day"] for c in odd)


def test_demo_risk_uses_the_computed_calls(demo_db: str) -> None:
    import json

    r = runner.invoke(app, ["--db", demo_db, "risk", "patient", "DEC-0003", "--json"])
    assert r.exit_code == 0, r.output
    calls = json.loads(r.output)["biopsy_calls"]
    assert calls and all(c["source"] == "computed" for c in calls)
    for c in calls:
        shown = runner.invoke(app, ["--db", demo_db, "biopsy", "show", c["biopsy"], "--json"])
        assert json.loads(shown.output)["call"] == c["computed_call"]
        # an uncallable computed call gives no evidence (and the typed call is not used)
        assert c["call"] == (None if c["computed_call"] == "uncallable" else c["computed_call"])
        assert c["used"] == (c["computed_call"] != "uncallable")
