"""The numpy-docstring Examples of decidua.risk run as tests."""

from __future__ import annotations

import doctest

import pytest

import decidua.risk
import decidua.risk.livebirth
import decidua.risk.model


@pytest.mark.parametrize("module", [decidua.risk, decidua.risk.model, decidua.risk.livebirth])
def test_risk_docstring_examples(module):
    res = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0
