"""Running one of the project's scripts (an example, a benchmark) as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_cleanly(script: Path, *arguments: str, timeout: float = 120) -> str:
    """Run ``script`` with warnings as errors; it must exit 0, print, and write no stderr.

    Returns what it printed.
    """
    completed = subprocess.run(  # noqa: S603 - runs the project's own scripts
        [sys.executable, "-W", "error", str(script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip()
    assert completed.stderr == ""
    return completed.stdout
