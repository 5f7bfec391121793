"""The CLI contract: with ``--json`` a command prints exactly one JSON document on
stdout and everything else (progress, warnings) on stderr; data is printed as plain
text, never as Rich markup.

Every command that has ``--json`` is run here on real inputs: the example import
files, EndoTime's training data with the shipped timing reference, the Bismark
test files, a seeded synthetic CFU dish (known truth not needed: only the output
channel is checked), the Livak 2001 qPCR table and the Gen5 ELISA export.
A new command with ``--json`` must get a case in :data:`CASES` (the test that
enumerates the commands fails until it does).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from decidua.cli import COMMANDS, app, load_command

runner = CliRunner()
TESTS = Path(__file__).resolve().parents[1]
DATA = TESTS / "data"
REPO = TESTS.parent
EXAMPLES = REPO / "examples" / "import"
BISMARK = DATA / "methylation" / "bismark"
KINDS = ["patients", "pregnancies", "investigations", "biopsies", "interventions", "cfu"]


def _json_commands() -> Iterator[str]:
    def walk(cmd, path):  # type: ignore[no-untyped-def]
        if getattr(cmd, "commands", None):
            for n, c in cmd.commands.items():
                yield from walk(c, [*path, n])
        else:
            yield " ".join(path), cmd

    for name in COMMANDS:
        for path, cmd in walk(load_command(name), [name]):
            if any("--json" in getattr(p, "opts", ()) for p in cmd.params):
                yield path


class Inputs:
    """Input files made once per test, on demand."""

    def __init__(self, tmp: Path, db: str) -> None:
        self.tmp, self.db = tmp, db

    def loaded_db(self) -> list[str]:
        for kind in KINDS:
            r = runner.invoke(app, ["--db", self.db, "import", kind, str(EXAMPLES / f"{kind}.csv")])
            assert r.exit_code == 0, r.output
        return ["--db", self.db]

    def training(self, n: int = 120) -> Path:
        from decidua.assays.timing import load_endotime_training_data

        path = self.tmp / "training.csv"
        load_endotime_training_data().iloc[:n].to_csv(path, index=False)
        return path

    def summary(self) -> tuple[Path, Path]:
        rng = np.random.default_rng(0)
        samples = [f"ctl{i}" for i in range(4)] + [f"rpl{i}" for i in range(4)]
        rows = []
        for s in samples:
            for r in range(12):
                m = int(rng.binomial(300, 0.06 if s.startswith("ctl") or r > 3 else 0.02))
                rows.append({"sample": s, "region": f"ca{r}", "chrom": "c", "start": r,
                             "end": r + 1, "context": "CA", "n_sites": 10, "methylated": m,
                             "unmethylated": 300 - m, "weighted": m / 300,
                             "mean_of_sites": m / 300})  # fmt: skip
        table, groups = self.tmp / "summary.tsv", self.tmp / "groups.csv"
        pd.DataFrame(rows).to_csv(table, sep="\t", index=False)
        pd.DataFrame({"sample": samples, "group": ["control"] * 4 + ["rpl"] * 4}).to_csv(
            groups, index=False
        )
        return table, groups

    def dish(self) -> Path:
        import cv2

        from decidua.assays.clonogenicity.synthetic import make_plate

        path = self.tmp / "dish.png"
        cv2.imwrite(str(path), make_plate("dish", 20, seed=3).image[..., ::-1])
        return path

    def elisa_db(self) -> list[str]:
        args = self.loaded_db()
        bmap = self.tmp / "elisa_map.csv"
        bmap.write_text("sample,biopsy_id,culture_day,treatment,analyte\n"
                        "SPL1,EX-001-B1,0,,IGFBP1\nSPL2,EX-001-B1,8,cAMP+MPA,IGFBP1\n")
        r = runner.invoke(app, [*args, "import", "elisa",
                                str(DATA / "elisa" / "gen5_fluorescamine_4pl.txt"),
                                "--biopsy-map", str(bmap)])
        assert r.exit_code == 0, r.output
        return args

    def cultures(self) -> Path:
        from decidua.assays.decidualization.synthetic import synthetic_cultures

        path = self.tmp / "cultures.csv"
        synthetic_cultures(8, seed=1)[0].to_csv(path, index=False)
        return path

    def unk_field(self) -> Path:
        from PIL import Image

        from decidua.assays.unk.synthetic import make_field

        path = self.tmp / "field.png"
        Image.fromarray(make_field(60, 6, seed=2).image).save(path)
        return path


def _import(i: Inputs) -> list[str]:
    return [*i.loaded_db()[:2], "import", "patients", str(EXAMPLES / "patients.csv"), "--json"]


def _trial(i: Inputs) -> list[str]:
    """A stored two-arm CFU trial of 6 women (synthetic counts) for `trial analyse`."""
    files = {
        "patients": ["patient_id,year_of_birth,study_group,consent_research"],
        "biopsies": ["biopsy_id,patient_id,biopsy_date"],
        "interventions": ["patient_id,kind,start_date,trial_arm"],
        "cfu": ["biopsy_id,plate,well,cells_seeded,colonies"],
    }
    counts = [(10, 14), (8, 13), (20, 31), (9, 9), (12, 11), (15, 17)]
    for k, (base, follow) in enumerate(counts):
        pid = f"TR-{k}"
        files["patients"].append(f"{pid},{1985 + k},rpl,yes")
        files["biopsies"] += [f"{pid}-B1,{pid},2022-01-10", f"{pid}-B2,{pid},2022-05-10"]
        arm = "active" if k < 3 else "placebo"
        files["interventions"].append(f"{pid},sitagliptin,2022-02-01,{arm}")
        files["cfu"] += [f"{pid}-B1,P1,A1,5000,{base}", f"{pid}-B2,P1,A1,5000,{follow}"]
    for kind, lines in files.items():
        f = i.tmp / f"trial_{kind}.csv"
        f.write_text("\n".join(lines) + "\n")
        r = runner.invoke(app, ["--db", i.db, "import", kind, str(f)])
        assert r.exit_code == 0, r.output
    return ["--db", i.db, "trial", "analyse", "cfu", "--family", "poisson", "--json"]


CASES: dict[str, Callable[[Inputs], list[str]]] = {
    "import": _import,
    "patients list": lambda i: [*i.loaded_db(), "patients", "list", "--json"],
    "patient show": lambda i: [*i.loaded_db(), "patient", "show", "EX-001", "--json"],
    "users list": lambda i: ["--db", i.db, "users", "list", "--json"],
    "timing fit": lambda i: ["timing", "fit", str(i.training()), "-o", str(i.tmp / "ref"),
                             "--n-seeds", "1", "--max-iterations", "2", "--no-calibrate",
                             "--json"],
    "timing place": lambda i: ["timing", "place", "default", str(i.training(8)), "--json"],
    "timing centiles": lambda i: ["timing", "centiles", str(i.training()), "--marker", "IGFBP1",
                                  "--reference", "default", "--json"],
    "risk predict": lambda i: ["risk", "predict", "--age", "34", "--losses", "3", "--what-if",
                               "--json"],
    "risk patient": lambda i: [*i.loaded_db(), "risk", "patient", "EX-001", "--save", "--json"],
    "risk history": lambda i: [*i.loaded_db(), "risk", "history", "EX-001", "--json"],
    "pathway patient": lambda i: [*i.loaded_db(), "pathway", "patient", "EX-001", "--json"],
    "cfu count": lambda i: ["cfu", "count", str(i.dish()), "--json"],
    "cfu correct": lambda i: ["cfu", "correct", str(i.dish()), "--add", "10,10", "--json"],
    "trial analyse": _trial,
    "cfu stats": lambda i: ["cfu", "stats", str(EXAMPLES / "cfu.csv"), "--json"],
    # regions on a chromosome the input lacks: a warning (stderr) beside the JSON
    "methylation summarize": lambda i: [
        "methylation", "summarize", str(BISMARK / "tiny_pe.no_overlap.covered.CX_report.txt.gz"),
        "--context", "CG,CHH", "--regions", str(_bed(i.tmp)), "-o", str(i.tmp / "s.tsv"),
        "--json"],
    "methylation compare": lambda i: [
        "methylation", "compare", str(i.summary()[0]), "--groups", str(i.summary()[1]),
        "--context", "CA", "-o", str(i.tmp / "dmr.tsv"), "--json"],
    "methylation score": lambda i: [
        "methylation", "score", str(i.summary()[0]), "--groups", str(i.summary()[1]),
        "--context", "CA", "--json"],
    "elisa fit": lambda i: ["elisa", "fit", str(DATA / "elisa" / "gen5_fluorescamine_4pl.txt"),
                            "--json"],
    "qpcr quantify": lambda i: ["qpcr", "quantify", str(DATA / "qpcr" / "livak2001_cmyc_gapdh.csv"),
                                "--reference-gene", "GAPDH", "--calibrator", "brain", "--json"],
    "senescence index": lambda i: ["senescence", "index",
                                   str(DATA / "senescence" / "index_plate.csv"), "--json"],
    "decidualization fit": lambda i: ["decidualization", "fit", str(i.cultures()), "-o",
                                      str(i.tmp / "dref.json"), "--json"],
    "decidualization course": lambda i: ["decidualization", "course", str(i.cultures()),
                                         "--json"],
    "decidualization biopsy": lambda i: [*i.elisa_db(), "decidualization", "biopsy",
                                         "EX-001-B1", "--save", "--json"],
    "unk count": lambda i: ["unk", "count", str(i.unk_field()), "--overlay-dir",
                            str(i.tmp / "qc"), "--json"],
    "unk pool": lambda i: ["unk", "pool", str(DATA / "unk" / "field_counts.csv"), "--json"],
    "biopsy show": lambda i: [*i.loaded_db(), "biopsy", "show", "EX-001-B1", "--json"],
    "reference fit": lambda i: [*i.loaded_db(), "reference", "fit", "IGFBP1", "--from",
                                str(i.training()), "--day-column", "LH", "--json"],
    "patient monitor": lambda i: [*i.loaded_db(), "patient", "monitor", "EX-001", "--json"],
    "biopsy analyse": lambda i: [*i.loaded_db(), "biopsy", "analyse", "--all", "--json"],
    "biopsy sign": lambda i: [*i.loaded_db(), "biopsy", "sign", "EX-001-B1", "--json"],
}  # fmt: skip


def _bed(tmp: Path) -> Path:
    bed = tmp / "elsewhere.bed"
    bed.write_text("chrZ\t0\t1000\tz\n")
    return bed


def test_every_json_command_has_a_case() -> None:
    missing = sorted(set(_json_commands()) - set(CASES))
    assert missing == [], f"add a case to CASES in {__file__} for: {missing}"


@pytest.mark.parametrize("command", sorted(CASES))
def test_json_output_is_one_document_on_stdout(command: str, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    from decidua.store import migrate
    from decidua.store.session import session_scope
    from decidua.store.users import add_user

    migrate.upgrade(db)
    with session_scope(db) as s:  # the acting user of the tests ($DECIDUA_USER), an admin
        add_user(s, os.environ["DECIDUA_USER"], "admin", actor="setup")
    args = CASES[command](Inputs(tmp_path, db))
    r = runner.invoke(app, args)
    assert r.exit_code == 0, (r.stdout, r.stderr)
    json.loads(r.stdout)  # exactly one JSON document: nothing before or after it
    if command == "methylation summarize":
        assert "warning:" in r.stderr and "warning" not in r.stdout


def test_json_in_a_real_process_keeps_stdout_clean(tmp_path: Path) -> None:
    """The console script with pipes (no terminal): progress and warnings on stderr."""
    args = CASES["methylation summarize"](Inputs(tmp_path, ""))
    r = subprocess.run([sys.executable, "-c", "from decidua.cli import main; main()", *args],
                       capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(REPO / "src")})  # fmt: skip
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert {row["context"] for row in rows} == {"CG", "CHH"}
    assert "warning:" in r.stderr


# ---------------------------------------------------------------- plain text, not markup

MARKUP = "EX[/]1 [bold]x[/bold] [red]"


def test_markup_in_an_id_is_printed_as_is(db: str) -> None:
    r = runner.invoke(app, ["--db", db, "patient", "show", MARKUP])
    assert r.exit_code == 1
    assert MARKUP in r.stderr and "Traceback" not in r.stderr
    r = runner.invoke(app, ["--db", db, "risk", "history", MARKUP])
    assert r.exit_code == 1 and MARKUP in r.stderr


def test_markup_in_a_file_name_is_printed_as_is(db: str, tmp_path: Path) -> None:
    missing = tmp_path / "[/]pat[bold]ients.csv"
    r = runner.invoke(app, ["--db", db, "import", "patients", str(missing)])
    assert r.exit_code == 1 and str(missing) in r.stderr


def test_markup_in_stored_text_is_printed_as_is(db: str, tmp_path: Path) -> None:
    for kind in ("patients", "pregnancies"):
        assert runner.invoke(app, ["--db", db, "import", kind,
                                   str(EXAMPLES / f"{kind}.csv")]).exit_code == 0  # fmt: skip
    f = tmp_path / "interventions.csv"
    f.write_text("patient_id,kind,start_date,end_date,dose,trial_arm\nEX-001,sitagliptin,"
                 "2022-01-05,2022-04-05,100 mg [/] daily,[bold]A[/bold]\n")
    r = runner.invoke(app, ["--db", db, "import", "interventions", str(f)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["--db", db, "patient", "show", "EX-001"])
    assert r.exit_code == 0, r.output
    flat = re.sub(r"[\s│┃]", "", r.stdout)  # cells wrap inside the table's borders
    assert "100mg[/]daily" in flat and "(trialarm[bold]A[/bold])" in flat


def test_markup_in_an_image_name_is_printed_as_is(tmp_path: Path) -> None:
    image = Inputs(tmp_path, "").dish().rename(tmp_path / "dish[bold] [red]1.png")
    r = runner.invoke(app, ["cfu", "correct", str(image), "--add", "10,10"])
    assert r.exit_code == 0, r.output
    assert "dish[bold] [red]1.png" in r.stdout
