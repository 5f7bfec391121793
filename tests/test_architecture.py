"""Architecture rules of Decidua, checked on the source tree (no import of the code under test).

1. **Dependency rule** (DESIGN.md "Layers"): the core packages import no database, web or
   CLI library and nothing from the edges (``decidua.store``, ``io``, ``services``, ``cli``,
   ``web``). Checked by parsing every module with :mod:`ast` and walking *all* nodes, so an
   import inside a function, under ``if TYPE_CHECKING:`` or through
   ``importlib.import_module("...")`` counts as much as one at the top of the file.
   ``__main__.py`` entry points (run by ``python -m``, imported by nothing) are exempt.
2. **One Alembic head**: several branches add migrations at once; the revisions must form one
   line (Alembic's own :class:`~alembic.script.ScriptDirectory` reads them).
3. **Declared dependencies**: every third-party module imported under ``src/decidua`` belongs
   to a distribution declared in ``pyproject.toml``; every declared run-time dependency is
   imported somewhere (or listed in :data:`USED_WITHOUT_IMPORT` with the reason).

New modules are covered without editing this file: the rules apply to every ``*.py`` under
the listed packages. A new *top-level* package must be classified below (core, edge or
support); the test that says so names the file to edit.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "decidua"

#: Core packages / modules (pure: no DB, web or CLI). Some may not exist yet.
CORE = (
    "domain",
    "errors",
    "literature",
    "stats",
    "assays",
    "reference",
    "risk",
    "pathway",
    "synthetic",
    "reports",
    "screening",
)
#: Edges: may use any library; the core must not import them.
EDGES = ("store", "io", "services", "cli", "web")
#: Neither core nor edge: the package itself, configuration, shipped data.
SUPPORT = ("__init__", "__main__", "settings", "data")

#: Third-party top-level modules the core must not import.
FORBIDDEN_LIBRARIES = ("sqlalchemy", "alembic", "fastapi", "starlette", "typer", "rich")
#: Decidua packages the core must not import.
FORBIDDEN_DECIDUA = tuple(f"decidua.{edge}" for edge in EDGES)

#: Import name -> distribution, where they differ and the installed metadata may not say
#: (e.g. when the distribution is not installed in this environment).
IMPORT_TO_DISTRIBUTION = {
    "PIL": "Pillow",
    "cv2": "opencv-python-headless",
    "yaml": "pyyaml",
    "skimage": "scikit-image",
    "sklearn": "scikit-learn",
    "pydantic_settings": "pydantic-settings",
    "psycopg": "psycopg",
    "multipart": "python-multipart",
    "python_multipart": "python-multipart",
    "jose": "python-jose",
    "jwt": "PyJWT",
    "argon2": "argon2-cffi",
    "dateutil": "python-dateutil",
    "magic": "python-magic",
    "docx": "python-docx",
    "fitz": "PyMuPDF",
    "Bio": "biopython",
    "weasyprint": "weasyprint",
    "jinja2": "Jinja2",
}

#: Run-time dependencies that are loaded without an ``import`` of their own name, and why.
#: (Listing one that is not declared does no harm.)
USED_WITHOUT_IMPORT: dict[str, str] = {
    "psycopg": "PostgreSQL driver, loaded by SQLAlchemy from a postgresql+psycopg:// URL",
    "python-multipart": "form parsing for FastAPI / Starlette, imported by them",
    "email-validator": "pydantic's EmailStr, imported by pydantic",
    "uvicorn": "the ASGI server, run as a command (uvicorn decidua.web:app)",
}


# --------------------------------------------------------------------------- helpers


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(source: str, module: str, is_package: bool = False) -> Iterator[
    tuple[int, str]
]:
    """Yield ``(line, dotted name)`` for every import in ``source``, anywhere in the tree.

    Relative imports are resolved against ``module``. ``from a import b`` yields both ``a``
    and ``a.b`` (``b`` may be a sub-module). Calls ``importlib.import_module("x")`` and
    ``__import__("x")`` with a literal name count as imports of ``x``.
    """
    package = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield node.lineno, name
            for alias in node.names:
                if alias.name != "*":
                    yield node.lineno, f"{name}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = (
                func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            )
            arg = node.args[0]
            if (
                called in ("import_module", "__import__")
                and isinstance(arg, ast.Constant)
                and isinstance(arg.value, str)
                and not arg.value.startswith(".")
            ):
                yield node.lineno, arg.value


def _matches(name: str, prefixes: tuple[str, ...]) -> str | None:
    for prefix in prefixes:
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    return None


def dependency_violations(path: Path, source: str | None = None) -> list[str]:
    """Violations of the dependency rule in one core module, as readable lines."""
    text = path.read_text(encoding="utf-8") if source is None else source
    out = []
    for line, name in imported_modules(text, module_name(path), _is_package(path)):
        hit = _matches(name, FORBIDDEN_LIBRARIES) or _matches(name, FORBIDDEN_DECIDUA)
        if hit:
            out.append(f"{path.relative_to(ROOT)}:{line}: imports {name} ({hit})")
    return out


def core_files() -> list[Path]:
    """Every module of the core packages, except ``__main__.py`` program entry points.

    ``python -m decidua.<pkg>`` runs a ``__main__`` module; nothing imports it, so it may
    hand over to the CLI (an edge) without the core depending on the CLI.
    """
    files: list[Path] = []
    for name in CORE:
        module, package = SRC / f"{name}.py", SRC / name
        if module.is_file():
            files.append(module)
        if package.is_dir():
            files.extend(p for p in sorted(package.rglob("*.py")) if p.name != "__main__.py")
    return files


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _requirement_name(requirement: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, f"pyproject.toml: cannot read the requirement {requirement!r}"
    return _normalise(match.group(1))


def _pyproject() -> dict:
    with (ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


@cache
def _installed() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distribution(top_level: str) -> str:
    if top_level in IMPORT_TO_DISTRIBUTION:
        return _normalise(IMPORT_TO_DISTRIBUTION[top_level])
    installed = _installed().get(top_level)
    if installed and len(installed) == 1:
        return _normalise(installed[0])
    return _normalise(top_level)


def third_party_imports(directory: Path, own: str) -> dict[str, list[str]]:
    """Top-level third-party modules imported under ``directory`` -> where (file:line)."""
    found: dict[str, list[str]] = {}
    for path in sorted(directory.rglob("*.py")):
        module = module_name(path) if directory.is_relative_to(SRC) else path.stem
        for line, name in imported_modules(path.read_text(encoding="utf-8"), module,
                                           _is_package(path)):
            top = name.split(".")[0]
            if not top or top == own or top == "__future__" or top in sys.stdlib_module_names:
                continue
            found.setdefault(top, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


# --------------------------------------------------------------------------- 1. layers


def test_every_top_level_package_is_classified() -> None:
    entries = {p.stem for p in SRC.glob("*.py")} | {
        p.name for p in SRC.iterdir() if p.is_dir() and p.name != "__pycache__"
    }
    unclassified = sorted(entries - set(CORE) - set(EDGES) - set(SUPPORT))
    assert not unclassified, (
        f"new top-level package(s) {unclassified} under src/decidua: add each to CORE, "
        "EDGES or SUPPORT in tests/test_architecture.py (and to DESIGN.md's layers)"
    )


def test_core_packages_exist() -> None:
    # The rule must be checking something: most core packages are here already.
    assert len(core_files()) >= 20
    assert (SRC / "synthetic" / "cohort.py") in core_files()


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import sqlalchemy\n", ["sqlalchemy"]),
        ("def f():\n    from sqlalchemy.orm import Session\n", ["sqlalchemy"]),
        ("from decidua import store\n", ["decidua.store"]),
        ("from decidua.cli.output import emit\n", ["decidua.cli"]),
        ("from ..io import readers\n", ["decidua.io"]),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import rich\n", ["rich"]),
        ("import importlib\nm = importlib.import_module('fastapi')\n", ["fastapi"]),
        ("import numpy\nfrom decidua.stats import Interval\nfrom . import model\n", []),
        ("import iota\nimport storey\nfrom decidua.storage import x\n", []),
    ],
)
def test_dependency_checker_finds_violations(source: str, expected: list[str]) -> None:
    # The checker on known snippets, placed as if in decidua/risk/example.py.
    fake = SRC / "risk" / "example.py"
    hits = [line.rsplit("(", 1)[1].rstrip(")") for line in dependency_violations(fake, source)]
    assert sorted(set(hits)) == sorted(expected)


def test_core_imports_no_edge_and_no_db_web_cli_library() -> None:
    violations = [v for path in core_files() for v in dependency_violations(path)]
    assert not violations, "dependency rule broken (DESIGN.md, Layers):\n" + "\n".join(
        violations
    )


# --------------------------------------------------------------------------- 2. Alembic


def test_alembic_has_exactly_one_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(SRC / "store" / "migrations"))
    heads = script.get_heads()
    revisions = list(script.walk_revisions())
    assert len(revisions) >= 1
    assert len(heads) == 1, (
        f"Alembic has {len(heads)} heads {sorted(heads)}: rebase your migration onto the "
        "current head (set its down_revision) and renumber it"
    )
    bases = script.get_bases()
    assert len(bases) == 1, f"Alembic has several base revisions: {sorted(bases)}"


# --------------------------------------------------------------------------- 3. dependencies


def test_imported_third_party_modules_are_declared() -> None:
    project = _pyproject()["project"]
    runtime = {_requirement_name(r) for r in project["dependencies"]}
    extras = {
        _requirement_name(r)
        for name, reqs in project.get("optional-dependencies", {}).items()
        for r in reqs
    }
    missing = {
        top: where
        for top, where in third_party_imports(SRC, "decidua").items()
        if _distribution(top) not in runtime | extras
    }
    assert not missing, "imported but not declared in pyproject.toml dependencies:\n" + "\n".join(
        f"{top} (distribution {_distribution(top)}): {', '.join(where[:3])}"
        for top, where in sorted(missing.items())
    )


def test_tests_and_benchmarks_import_only_declared_packages() -> None:
    project = _pyproject()["project"]
    declared = {_requirement_name(r) for r in project["dependencies"]} | {
        _requirement_name(r)
        for reqs in project.get("optional-dependencies", {}).values()
        for r in reqs
    }
    local = {p.stem for d in ("tests", "benchmarks") for p in (ROOT / d).rglob("*.py")}
    local |= {p.name for d in ("tests", "benchmarks") for p in (ROOT / d).rglob("*")
              if p.is_dir()}
    missing = {}
    for directory in ("tests", "benchmarks"):
        if not (ROOT / directory).is_dir():
            continue
        for top, where in third_party_imports(ROOT / directory, "decidua").items():
            if top not in local and _distribution(top) not in declared:
                missing[top] = where
    assert not missing, "imported by tests/benchmarks but not declared:\n" + "\n".join(
        f"{top}: {', '.join(where[:3])}" for top, where in sorted(missing.items())
    )


def test_declared_runtime_dependencies_are_used() -> None:
    project = _pyproject()["project"]
    runtime = {_requirement_name(r) for r in project["dependencies"]}
    imported = {_distribution(top) for top in third_party_imports(SRC, "decidua")}
    unused = sorted(runtime - imported - {_normalise(d) for d in USED_WITHOUT_IMPORT})
    assert not unused, (
        f"declared in pyproject.toml but imported nowhere under src/decidua: {unused}; drop "
        "them, or list them in USED_WITHOUT_IMPORT with the reason"
    )


def test_pillow_is_declared_explicitly() -> None:
    # PIL is imported by the CFU image reader; it came in only through scikit-image before.
    runtime = {_requirement_name(r) for r in _pyproject()["project"]["dependencies"]}
    assert "pillow" in runtime


def test_no_module_imports_a_main_entry_point() -> None:
    # Keeps the __main__.py exemption of the dependency rule honest.
    hits = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in sorted(SRC.rglob("*.py"))
        for line, name in imported_modules(path.read_text(encoding="utf-8"),
                                           module_name(path), _is_package(path))
        if name.endswith(".__main__") or ".__main__." in name
    ]
    assert not hits, "\n".join(hits)
