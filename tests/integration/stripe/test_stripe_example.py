"""examples/stripe_checkout.py runs offline as a script and reports what really happened."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[3] / "examples" / "stripe_checkout.py"


def test_the_checkout_example_runs_offline_and_says_so() -> None:
    """Without STRIPE_SECRET_KEY the example uses the fake, says so, and every flow works."""
    env = {name: value for name, value in os.environ.items() if name != "STRIPE_SECRET_KEY"}

    completed = subprocess.run(  # noqa: S603 - runs our own example script
        [sys.executable, "-W", "error", str(EXAMPLE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    out = completed.stdout
    assert out.startswith("Mode: OFFLINE")
    assert "saved visa •••• 4242" in out
    assert "completed, captured 49.99 USD" in out
    assert "refund completed; payment partially_refunded, 39.99 USD left" in out
    assert "completed, captured 30.00 USD" in out
    assert "failed: generic_decline - Your card was declined." in out
    assert "after the challenge: completed" in out
    assert "verified payment_intent.succeeded -> payment.succeeded" in out
    assert "a tampered copy is refused: webhook_signature_invalid" in out
    assert "_secret_" not in out


def test_a_live_key_is_never_used() -> None:
    """With a live-mode key in the environment the example refuses it and stays offline."""
    env = {**os.environ, "STRIPE_SECRET_KEY": "sk_live_never_use_this_0123456789"}

    completed = subprocess.run(  # noqa: S603 - runs our own example script
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )

    assert "never uses live mode" in completed.stdout
    assert "Mode: OFFLINE" in completed.stdout
    assert "sk_live_never_use_this" not in completed.stdout + completed.stderr
