"""Every script in examples/ runs offline, as a user would run it, and exits cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from _scripts import run_cleanly

EXAMPLES = sorted(
    path
    for path in (Path(__file__).parent.parent / "examples").glob("*.py")
    if not path.name.startswith("_")  # shared helpers of several examples, not scripts
)


def test_there_are_examples() -> None:
    """The glob below finds the examples folder (an empty parametrisation would prove nothing)."""
    assert any(path.name == "quickstart.py" for path in EXAMPLES)


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(script: Path) -> None:
    """The example exits with status 0 and prints something, with no warnings on stderr."""
    run_cleanly(script)


def test_quickstart_tells_the_truth() -> None:
    """The quickstart's output states the outcomes the sandbox really produced."""
    script = next(path for path in EXAMPLES if path.name == "quickstart.py")
    output = run_cleanly(script)
    assert "processed: completed, captured 100.00 USD" in output
    assert "refund of 30.00 USD: completed; payment is partially_refunded" in output
    assert "44.50 USD left to refund" in output
    assert "refused [invalid_refund_amount]" in output
    assert "failed: insufficient_funds" in output
    assert "requires_action: send the customer to https://" in output
    assert "after the challenge: completed" in output


def test_rest_api_example_tells_the_truth() -> None:
    """The REST API example's output states the answers the API really gave."""
    script = next(path for path in EXAMPLES if path.name == "rest_api.py")
    output = run_cleanly(script)
    assert "-> 401 problem not_authenticated" in output
    assert "credit_card visa 4242" in output
    assert "-> 201 pay_" in output
    assert "-> 201 (replayed) pay_" in output
    assert "-> 422 problem validation_error (field amount): must be a decimal string" in output
    assert "completed, amount 100.00 USD, captured 100.00 USD" in output
    assert "-> 403 problem forbidden" in output
    assert "-> 201 re_" in output
    assert "completed 50.00 USD" in output
    assert "-> 422 problem invalid_refund_amount (field amount)" in output
    assert "partially_refunded, amount 100.00 USD, captured 100.00 USD, refundable 50.00" in output
    assert "status_changed     [completed -> partially_refunded]" in output
