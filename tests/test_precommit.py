"""The pre-commit hooks agree with the pinned tools and the Django in use.

The hooks are fetched by pre-commit itself, so nothing here runs them; what can drift
is their pins: a ruff hook of another version than `make lint` would flag or format
differently, and django-upgrade aimed at another Django would rewrite for the wrong one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import django
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _hooks() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return {repo["repo"].rsplit("/", 1)[-1]: repo for repo in config["repos"]}


def _pin(requirements: str, package: str) -> str:
    text = (ROOT / "requirements" / requirements).read_text()
    match = re.search(rf"^{re.escape(package)}==(\S+)$", text, re.MULTILINE)
    assert match, f"{package} is not pinned in requirements/{requirements}"
    return match.group(1)


def test_the_ruff_hook_is_the_pinned_ruff():
    ruff = _hooks()["ruff-pre-commit"]

    assert ruff["rev"] == f"v{_pin('dev.txt', 'ruff')}"
    assert [hook["id"] for hook in ruff["hooks"]] == ["ruff-check", "ruff-format"]


def test_django_upgrade_targets_the_django_in_use():
    upgrade = _hooks()["django-upgrade"]
    (hook,) = upgrade["hooks"]
    target = hook["args"][hook["args"].index("--target-version") + 1]

    assert target == "{}.{}".format(*django.VERSION[:2])
    assert _pin("base.txt", "Django").startswith(f"{target}.")
    assert re.fullmatch(r"\d+\.\d+\.\d+", upgrade["rev"]), "pin an exact release"
