"""`trial analyse` over stored results: a synthetic CFU trial (simulate_trial, known
rate ratio) imported through the ordinary importers gives exactly the figures of the
CFU trial model fitted on the generator's own table; pairing and exclusions checked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from decidua.assays.clonogenicity.stats import fit_trial
from decidua.assays.clonogenicity.synthetic import simulate_trial
from decidua.cli import app
from decidua.errors import InputError

runner = CliRunner()


def write_trial(tmp: Path, n_per_arm: int = 15, seed: int = 5) -> tuple[pd.DataFrame, list[Path]]:
    """CSV files (patients, biopsies, interventions, cfu) of a two-arm CFU trial.

    Woman i: born 2022 - age, baseline biopsy 2022-01-10, start 2022-02-01, follow-up
    2022-05-10; one count well per biopsy with the generator's counts. One extra
    woman on placebo has no follow-up biopsy (excluded).
    """
    d = simulate_trial(n_per_arm, seed=seed).data
    pats, bios, ivs, cfu = [], [], [], []
    for r in d.itertuples():
        pid = f"TR-{r.Index:03d}"
        arm = "SIT active" if r.arm == 1 else "SIT placebo"
        pats.append(f"{pid},{2022 - int(r.age)},,,rpl,yes,no,no")
        bios.append(f"{pid}-B1,{pid},1,2022-01-02,2022-01-10,false,")
        bios.append(f"{pid}-B2,{pid},2,2022-05-02,2022-05-10,true,")
        ivs.append(f"{pid},sitagliptin,2022-02-01,2022-05-01,100 mg daily,{arm}")
        cfu.append(f"{pid}-B1,P1,A1,{r.cells_seeded},{r.baseline_colonies}")
        cfu.append(f"{pid}-B2,P1,A1,{r.cells_seeded},{r.followup_colonies}")
    pats.append("TR-999,1990,,,rpl,yes,no,no")
    bios.append("TR-999-B1,TR-999,1,2022-01-02,2022-01-10,false,")
    ivs.append("TR-999,sitagliptin,2022-02-01,2022-05-01,100 mg daily,SIT placebo")
    files = []
    for name, head, lines in [
        ("patients", "patient_id,year_of_birth,bmi,ethnicity,study_group,consent_research,"
                     "consent_biobank,consent_contact", pats),
        ("biopsies", "biopsy_id,patient_id,cycle_number,lh_surge_date,biopsy_date,"
                     "on_treatment,clinic_call", bios),
        ("interventions", "patient_id,kind,start_date,end_date,dose,trial_arm", ivs),
        ("cfu", "biopsy_id,plate,well,cells_seeded,colonies", cfu),
    ]:
        f = tmp / f"{name}.csv"
        f.write_text(head + "\n" + "\n".join(lines) + "\n")
        files.append(f)
    return d, files


def load(db: str, files: list[Path]) -> None:
    for f in files:
        r = runner.invoke(app, ["--db", db, "import", f.stem, str(f)])
        assert r.exit_code == 0, r.output


def test_stored_trial_equals_cfu_trial_model(db, tmp_path):
    from decidua.services.trial import analyse_trial
    from decidua.store.session import session_scope

    data, files = write_trial(tmp_path)
    load(db, files)
    with session_scope(db) as s:
        doc = analyse_trial(s, "cfu")
    want = fit_trial(data, family="negbin")
    assert doc["n"] == len(data) == 30
    assert doc["effect"]["estimate"] == pytest.approx(want.rate_ratio, rel=1e-6)
    assert doc["effect"]["low"] == pytest.approx(want.lower, rel=1e-6)
    assert doc["effect"]["high"] == pytest.approx(want.upper, rel=1e-6)
    assert doc["treated_arms"] == ["SIT active"] and doc["control_arms"] == ["SIT placebo"]
    assert doc["excluded"] == [{"patient": "TR-999", "reason": "no biopsy on or after the start"}]
    with session_scope(db) as s:
        po = analyse_trial(s, "cfu", family="poisson", treated="SIT placebo")
    # the placebo arm named as treated: the effect is inverted
    assert po["effect"]["estimate"] == pytest.approx(
        1 / fit_trial(data, family="poisson").rate_ratio, rel=1e-6)
    with session_scope(db) as s, pytest.raises(InputError, match="no intervention"):
        analyse_trial(s, "cfu", treated="nonsense")


def test_cli_json_and_missing_marker(db, tmp_path):
    _, files = write_trial(tmp_path, n_per_arm=8)
    load(db, files)
    r = runner.invoke(app, ["--db", db, "trial", "analyse", "cfu"])
    assert r.exit_code == 0, r.output
    assert "rate ratio" in r.stdout
    r = runner.invoke(app, ["--db", db, "trial", "analyse", "IGFBP1", "--json"])
    assert r.exit_code == 1
    assert "IGFBP1" in r.stderr
