"""The numpy-docstring Examples of decidua.pathway run as tests."""

from __future__ import annotations

import doctest

import decidua.pathway.engine as engine


def test_pathway_docstring_examples():
    res = doctest.testmod(engine, optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0
