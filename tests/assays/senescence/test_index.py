"""Pro-senescent index log2(DIO2/SCARA5) and p16/DIO2/SCARA5 relative expression.

Checks: hand-computed values (ΔCq arithmetic written out in the tests), the sign
convention, the interval against a Monte Carlo computation (a documented
synthetic generator: normal replicate Cq errors with known SDs, seeded), the
path through :func:`decidua.assays.qpcr.quantify`, and bad input naming the gene.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from decidua.assays.qpcr.quantify import quantify
from decidua.assays.qpcr.wells import Well
from decidua.assays.senescence import relative_expression, senescence_index, senescence_indices
from decidua.errors import InputError


def test_hand_computed():
    # ΔCq: p16 6.5, DIO2 4.0, SCARA5 7.5 -> index = 7.5 - 4.0 = 3.5; DIO2/SCARA5 = 2^3.5
    r = senescence_index({"CDKN2A": 6.5, "DIO2": 4.0, "SCARA5": 7.5},
                         cq_sd={"DIO2": 0.3, "SCARA5": 0.4}, sample="S")
    assert r.index.estimate == 3.5
    assert r.dio2_per_scara5 == pytest.approx(2 ** 3.5)
    # sqrt(0.09 + 0.16) = 0.5; level 0.6827 -> z = 1.0000 (to 4 decimals)
    assert r.index.low == pytest.approx(3.0, abs=1e-4)
    assert r.index.high == pytest.approx(4.0, abs=1e-4)
    assert r.p16.relative.estimate == pytest.approx(2 ** -6.5)
    assert r.dio2.relative.estimate == 1 / 16
    assert r.scara5.relative.estimate == pytest.approx(2 ** -7.5)
    # relative-expression limits default to the Cq SDs: 2^-(4 ± 0.3)
    assert r.dio2.relative.low == pytest.approx(2 ** -4.3, rel=1e-4)
    assert r.dio2.relative.high == pytest.approx(2 ** -3.7, rel=1e-4)
    assert math.isnan(r.p16.relative.low)  # no SD given for p16
    d = r.to_dict()
    assert d["index"]["estimate"] == 3.5 and d["genes"][0]["relative"]["low"] is None


def test_sign_convention():
    base = senescence_index({"CDKN2A": 5, "DIO2": 5, "SCARA5": 5}).index.estimate
    more_dio2 = senescence_index({"CDKN2A": 5, "DIO2": 3, "SCARA5": 5}).index.estimate
    more_scara5 = senescence_index({"CDKN2A": 5, "DIO2": 5, "SCARA5": 3}).index.estimate
    assert base == 0 and more_dio2 == 2 and more_scara5 == -2


@pytest.mark.parametrize("level", [0.6827, 0.95])
def test_interval_matches_monte_carlo(level):
    rng = np.random.default_rng(20200137)
    mu = {"RPL19": 19.0, "CDKN2A": 27.0, "DIO2": 24.5, "SCARA5": 26.0}
    sd = {"RPL19": 0.25, "CDKN2A": 0.2, "DIO2": 0.35, "SCARA5": 0.15}
    n = 400_000
    cq = {g: rng.normal(mu[g], sd[g], n) for g in mu}
    index_draws = (cq["SCARA5"] - cq["RPL19"]) - (cq["DIO2"] - cq["RPL19"])
    dio2_rel = 2.0 ** -(cq["DIO2"] - cq["RPL19"])
    dsd = {g: math.hypot(sd[g], sd["RPL19"]) for g in ("CDKN2A", "DIO2", "SCARA5")}
    r = senescence_index({g: mu[g] - mu["RPL19"] for g in dsd},
                         cq_sd={g: sd[g] for g in dsd}, delta_cq_sd=dsd, level=level)
    a = (1 - level) / 2
    lo, hi = np.quantile(index_draws, [a, 1 - a])
    assert r.index.low == pytest.approx(lo, abs=0.01)
    assert r.index.high == pytest.approx(hi, abs=0.01)
    lo, hi = np.quantile(dio2_rel, [a, 1 - a])
    assert r.dio2.relative.low == pytest.approx(lo, rel=0.01)
    assert r.dio2.relative.high == pytest.approx(hi, rel=0.01)
    inside = np.mean((index_draws >= r.index.low) & (index_draws <= r.index.high))
    assert inside == pytest.approx(level, abs=0.005)


def _wells(sample, cqs, start=0):
    out, i = [], start
    for target, values in cqs.items():
        for v in values:
            out.append(Well(well=f"W{i}", sample=sample, target=target, cq=v))
            i += 1
    return out


def test_from_quantify_and_reference_cancels():
    a = {"RPL19": (20.0, 20.4), "p16": (28.0, 28.2), "DIO2": (25.0, 25.4),
         "SCARA5": (27.1, 26.9)}
    b = {**a, "RPL19": (17.0, 17.4)}  # same targets, a reference 3 cycles earlier
    q = quantify(_wells("A", a) + _wells("B", b, 100))
    ra, rb = senescence_indices(q)
    assert (ra.sample, rb.sample) == ("A", "B")
    # ΔCq(DIO2) = 25.2 - 20.2 = 5.0; ΔCq(SCARA5) = 27.0 - 20.2 = 6.8 -> index 1.8
    assert ra.index.estimate == pytest.approx(1.8)
    assert rb.index.estimate == pytest.approx(1.8)
    assert rb.dio2.relative.estimate == pytest.approx(2 ** -(25.2 - 17.2))
    # SD of duplicates (x, x + 0.4) = 0.4/sqrt(2); SCARA5's 0.2/sqrt(2)
    s = math.hypot(0.4 / math.sqrt(2), 0.2 / math.sqrt(2))
    assert ra.index.high - ra.index.estimate == pytest.approx(s, rel=1e-3)


def test_missing_gene_names_it():
    with pytest.raises(InputError) as e:
        senescence_index({"CDKN2A": 5.0, "DIO2": 4.0}, sample="S7")
    assert "SCARA5" in str(e.value) and "S7" in str(e.value)
    q = quantify(_wells("A", {"RPL19": (20, 20.1), "DIO2": (25, 25.1), "SCARA5": (26, 26.1)}))
    with pytest.raises(InputError, match="CDKN2A"):
        senescence_indices(q)


def test_bad_values():
    with pytest.raises(InputError, match="DIO2"):
        senescence_index({"CDKN2A": 5.0, "DIO2": float("nan"), "SCARA5": 4.0})
    with pytest.raises(InputError, match="SCARA5"):
        senescence_index({"CDKN2A": 5.0, "DIO2": 1.0, "SCARA5": 4.0}, cq_sd={"SCARA5": -1})
    with pytest.raises(InputError):
        relative_expression("DIO2", 1.0, 0.1, level=1.5)


def test_cli_json_on_the_synthetic_plate(tmp_path):
    import json
    from pathlib import Path

    from typer.testing import CliRunner

    from decidua.cli import app

    data = Path(__file__).resolve().parents[2] / "data" / "senescence"
    r = CliRunner().invoke(app, ["senescence", "index", str(data / "index_plate.csv"), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    got = {s["sample"]: s["index"]["estimate"] for s in doc["samples"]}
    assert got == pytest.approx({"decidual": -4.0, "senescent": 4.0})
    bad = tmp_path / "plate.csv"
    bad.write_text("".join(line for line in (data / "index_plate.csv").open()
                           if ",SCARA5," not in line))
    r = CliRunner().invoke(app, ["senescence", "index", str(bad)])
    assert r.exit_code == 1 and "SCARA5" in r.stderr
