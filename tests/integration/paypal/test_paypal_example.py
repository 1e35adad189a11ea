"""examples/paypal_checkout.py runs offline by default and tells the truth about what happened."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[3] / "examples" / "paypal_checkout.py"


def test_the_example_runs_offline_and_reports_each_step() -> None:
    """Without PayPal credentials the example uses the fake, says so, and every flow ends right."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYPAL_")}
    completed = subprocess.run(  # noqa: S603 - runs our own example script
        [sys.executable, "-W", "error", str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    output = completed.stdout
    assert output.startswith("Mode: OFFLINE")
    assert "requires_action: send the payer to https://www.sandbox.paypal.com/checkoutnow" in output
    assert "after approval and reconcile: completed, captured 49.99 USD" in output
    assert "payment partially_refunded, 34.99 USD left to refund" in output
    assert "completed, captured 30.00 USD" in output
    assert "failed: INSTRUMENT_DECLINED" in output
    assert "-> payment.succeeded" in output
    assert "a tampered copy is refused: webhook_signature_invalid" in output
