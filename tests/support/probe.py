"""Load settings in a fresh interpreter, with an environment of the test's choosing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_python(
    code: str, *, env: dict[str, str], drop: tuple[str, ...] = (), check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` from the project root without the variables named by ``drop``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    clean.update(env)
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=check,
    )
