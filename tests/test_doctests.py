"""Docs that run: the docstring examples of every core module are executed as tests.

Each module of the core packages (``core_files()`` of ``tests/test_architecture.py``) is
imported and its examples run with :class:`doctest.DocTestRunner` (``ELLIPSIS`` and
``NORMALIZE_WHITESPACE``); a wrong example fails the test named after its module. New
modules are picked up without editing this file. Keep examples fast (well under a
second each): they run in the default suite.

Packages listed in :data:`REQUIRE_EXAMPLES` must also give an ``Examples`` section on every
public function and class; add a package there once its examples are written.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import types

import pytest

# The one list of core packages and their modules (tests/ is on sys.path under pytest).
from test_architecture import core_files, module_name

#: Packages whose public functions and classes must each carry an ``Examples`` section.
REQUIRE_EXAMPLES = (
    "decidua.assays.timing",
    "decidua.literature",
    "decidua.pathway",
    "decidua.risk",
    "decidua.stats",
    "decidua.synthetic",
)

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


MODULES = [module_name(path) for path in core_files()]


def run_examples(module: types.ModuleType) -> tuple[doctest.TestResults, str]:
    """Run the examples of one module; return the counts and the failure report."""
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report: list[str] = []
    failed = attempted = 0
    for test in finder.find(module, module.__name__):
        result = runner.run(test, out=report.append)
        failed += result.failed
        attempted += result.attempted
    return doctest.TestResults(failed, attempted), "".join(report)


def test_modules_are_collected() -> None:
    assert "decidua.literature" in MODULES
    assert "decidua.synthetic.cohort" in MODULES
    assert "decidua.stats.intervals" in MODULES
    assert len(MODULES) >= 40


def test_a_wrong_example_fails() -> None:
    module = types.ModuleType("decidua_doctest_probe")
    module.__doc__ = """Probe.

    >>> 1 + 1
    3
    >>> sorted({"b", "a"})
    ['a', 'b']
    """
    results, report = run_examples(module)
    assert results.attempted == 2
    assert results.failed == 1
    assert "Expected:\n    3" in report


@pytest.mark.parametrize("name", MODULES)
def test_module_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    results, report = run_examples(module)
    assert results.failed == 0, (
        f"{results.failed} of {results.attempted} examples failed in {name}:\n{report}"
    )


def _public_objects(package: str) -> list[tuple[str, object]]:
    out = []
    for name in MODULES:
        if name != package and not name.startswith(package + "."):
            continue
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", None) != name:
                continue  # re-exported: checked where it is defined
            out.append((f"{name}.{attr}", obj))
    return out


@pytest.mark.parametrize("package", REQUIRE_EXAMPLES)
def test_public_functions_have_examples(package: str) -> None:
    objects = _public_objects(package)
    assert objects, f"no public functions or classes found in {package}"
    missing = [
        qualname
        for qualname, obj in objects
        if "Examples\n" not in inspect.cleandoc(obj.__doc__ or "")
    ]
    assert not missing, "public names without an Examples section:\n" + "\n".join(missing)
