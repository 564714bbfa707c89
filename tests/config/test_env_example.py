""".env.example lists exactly the environment variables the project reads.

The reads are found by parsing the project's own Python (settings, gunicorn
configuration, manage.py, the apps and the benchmark; not the tests, whose knobs are
no deployment's business): ``env_str/env_bool/env_int/env_list("NAME", …)``,
``os.environ.get("NAME")``, ``os.getenv("NAME")`` and ``os.environ["NAME"]`` read.
Writes (``os.environ["NAME"] = …``, ``setdefault``, ``pop``) are not reads.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("manage.py", "config", "api", "accounts", "todos", "bench")
ENV_READERS = {"env_str", "env_bool", "env_int", "env_list"}
# Variables the project sets for itself: read, but never an operator's to set. Each
# must still be set somewhere in the code (checked below), or the exemption is stale.
SET_BY_THE_PROJECT = {"DATABASE_SCHEMA_COMMAND"}
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def _python_files() -> list[Path]:
    files: list[Path] = []
    for name in SOURCES:
        path = ROOT / name
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


def _is_os_environ(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _is_a_reader(func: ast.expr) -> bool:
    """``env_str`` and friends, ``os.environ.get`` or ``os.getenv``."""
    if isinstance(func, ast.Name):
        return func.id in ENV_READERS
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "get":
        return _is_os_environ(func.value)
    return (
        func.attr == "getenv"
        and isinstance(func.value, ast.Name)
        and func.value.id == "os"
    )


def _literal(args: list[ast.expr]) -> str | None:
    if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str):
        return args[0].value
    return None


def _environment_use(tree: ast.AST) -> tuple[set[str], set[str]]:
    """The variable names ``tree`` reads, and those it assigns."""
    reads: set[str] = set()
    writes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = _literal(node.args)
            if name is None:
                continue
            if _is_a_reader(func):
                reads.add(name)
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                (writes if isinstance(node.ctx, ast.Store) else reads).add(key.value)
    return reads, writes


def _project_environment_use() -> tuple[set[str], set[str]]:
    reads: set[str] = set()
    writes: set[str] = set()
    for path in _python_files():
        file_reads, file_writes = _environment_use(ast.parse(path.read_text(), path))
        reads |= file_reads
        writes |= file_writes
    return reads, writes


def _listed() -> set[str]:
    return set(ASSIGNMENT.findall((ROOT / ".env.example").read_text()))


def test_the_parser_finds_every_kind_of_read_and_no_write():
    source = """
import os
from config.settings.env import env_bool, env_int, env_list, env_str
env_str("A"); env_bool("B", default=True); env_int("C", 1); env_list("D")
os.environ.get("E"); os.getenv("F"); os.environ["G"]
os.environ["H"] = "1"; os.environ.setdefault("I", "1"); os.environ.pop("J", None)
os.environ.get(some_name)
"""
    reads, writes = _environment_use(ast.parse(source))

    assert reads == {"A", "B", "C", "D", "E", "F", "G"}
    assert writes == {"H"}


def test_the_scan_sees_the_settings_and_the_gunicorn_configuration():
    reads, _ = _project_environment_use()

    # One read from each kind of source, so that a scan that found nothing fails here
    # rather than passing the comparisons below vacuously.
    assert {"DATABASE_URL", "DJANGO_SECURE_HSTS_SECONDS", "GUNICORN_THREADS"} <= reads
    assert "DIRECT_DATABASE_URL" in reads  # manage.py


def test_every_variable_the_code_reads_is_in_env_example():
    reads, _ = _project_environment_use()

    missing = reads - SET_BY_THE_PROJECT - _listed()

    assert not missing, f"read by the code but not in .env.example: {sorted(missing)}"


def test_every_variable_in_env_example_is_read_by_the_code():
    reads, _ = _project_environment_use()

    unused = _listed() - reads

    assert not unused, f"in .env.example but read nowhere: {sorted(unused)}"


def test_the_variables_the_project_sets_for_itself_are_set_and_not_listed():
    _, writes = _project_environment_use()

    assert writes >= SET_BY_THE_PROJECT
    assert not (_listed() & SET_BY_THE_PROJECT)


def test_every_variable_in_env_example_has_a_placeholder_and_a_comment():
    lines = (ROOT / ".env.example").read_text().splitlines()
    uncommented = []
    for number, line in enumerate(lines):
        if not ASSIGNMENT.match(line):
            continue
        # A comment above it, or above the group of variables it belongs to.
        above = number - 1
        while above >= 0 and ASSIGNMENT.match(lines[above]):
            above -= 1
        if above < 0 or not lines[above].startswith("#"):
            uncommented.append(line)
        # Empty only where the comment says why ("Left empty here: ...").
        if line.endswith("=") and "empty" not in lines[number - 1].lower():
            uncommented.append(line)

    assert not uncommented, f"no comment or no placeholder: {uncommented}"
