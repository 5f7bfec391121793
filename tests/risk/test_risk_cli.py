"""`decidua risk predict` through the real Typer app."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from decidua import RESEARCH_USE_LABEL
from decidua.cli import app
from decidua.risk import predict

runner = CliRunner()


def test_predict_json_matches_library():
    res = runner.invoke(app, ["risk", "predict", "--age", "34", "--losses", "3",
                              "--live-births", "1", "--biopsy", "abnormal", "--biopsy",
                              "normal", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    lib = predict(34, ["live_birth", "miscarriage", "miscarriage", "miscarriage"],
                  ["abnormal", "normal"])
    assert out["p_loss"] == lib.p_loss
    assert out["interval"] == [lib.interval[0], lib.interval[1]]
    assert out["model_version"] == lib.model_version
    assert out["label"] == RESEARCH_USE_LABEL
    assert out["interval"][0] < out["p_loss"] < out["interval"][1]


def test_predict_text_has_interval_and_label():
    res = runner.invoke(app, ["risk", "predict", "--age", "30", "--losses", "2"])
    assert res.exit_code == 0, res.output
    assert "95% credible interval" in res.stdout
    assert RESEARCH_USE_LABEL in res.stdout


def test_predict_errors():
    res = runner.invoke(app, ["risk", "predict", "--age", "70", "--losses", "1"])
    assert res.exit_code == 1
    assert "age" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["risk", "predict", "--age", "30", "--losses", "-2"])
    assert res.exit_code == 1
    res = runner.invoke(app, ["risk", "predict", "--age", "30", "--biopsy", "weird"])
    assert res.exit_code == 2


def test_predict_what_if_next_biopsy():
    res = runner.invoke(app, ["risk", "predict", "--age", "34", "--losses", "3", "--what-if",
                              "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    nb = out["next_biopsy"]
    assert nb["if_normal"]["p_loss"] < out["p_loss"] < nb["if_abnormal"]["p_loss"]
    assert 0 < nb["p_abnormal"] < 1
    # the current risk is (model v2: approximately, the call informs theta within each
    # frailty stratum, see docs/risk-model.md) the predictive average of the two futures
    avg = nb["p_abnormal"] * nb["if_abnormal"]["p_loss"] + (1 - nb["p_abnormal"]) * nb[
        "if_normal"]["p_loss"]
    assert abs(avg - out["p_loss"]) < 1e-3
    text = runner.invoke(app, ["risk", "predict", "--age", "34", "--losses", "3", "--what-if"])
    assert "If one more biopsy is called abnormal" in text.stdout
