"""The packages type-check: mypy, with [tool.mypy] of pyproject.toml, finds nothing.

Run as a child process from the project root, as a developer would run it, so the
test checks exactly the configuration, files and stubs that the test extra installs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_errors() -> None:
    # A cold run (a fresh clone, no .mypy_cache) takes some 20 s on two cores.
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"mypy exited with {run.returncode}:\n{run.stdout}{run.stderr}"
