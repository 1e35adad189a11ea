"""Every script in bench/ still runs: at a toy size, on the stores this machine has.

The figures at this size mean nothing; what is checked is that a benchmark has not rotted --
a schema change it seeds past, an API it calls the old way -- before someone needs its
figures. (bench/fraud.py once seeded a column list that migration 0010 had outgrown, and
nothing noticed.) PostgreSQL runs when ``PAYKIT_TEST_POSTGRES_URL`` is set, as the scripts
themselves decide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import pytest

from _scripts import run_cleanly

BENCH: Final = Path(__file__).parent.parent / "bench"

TOY_SIZES: Final = {
    "analytics.py": ["--payments", "200", "--repeat", "1"],
    "api.py": ["--requests", "10", "--rounds", "1"],
    "async_storage.py": [
        *("--payments", "20", "--concurrency", "5", "--latency", "0.001"),
        *("--repeat", "1", "--threads", "4", "--pool", "4"),
    ],
    "concurrency.py": ["--payments", "20", "--concurrency", "5", "--latency", "0.001"],
    "fraud.py": ["--assessments", "300", "--payments", "20"],
    "lifecycle.py": ["--lifecycles", "50", "--repeat", "1"],
    # The peer (django-payments) needs its own environment, built with pip: left out here.
    "peers.py": ["--lifecycles", "10", "--rounds", "1", "--worker-seconds", "0", "--without-peer"],
    "storage.py": ["--lifecycles", "20", "--repeat", "1", "--seconds", "0.2", "--latencies", "0"],
}
"""Each benchmark script and the options that make it run in a few seconds."""


def test_every_benchmark_has_a_toy_size() -> None:
    """A new script in bench/ must be added above, or it would never be run."""
    scripts = {path.name for path in BENCH.glob("*.py") if not path.name.startswith("_")}
    assert scripts == set(TOY_SIZES)


@pytest.mark.parametrize("script", sorted(TOY_SIZES))
def test_benchmark_runs(script: str) -> None:
    """The script exits with status 0, prints its figures and writes nothing to stderr."""
    run_cleanly(BENCH / script, *TOY_SIZES[script], timeout=180)
