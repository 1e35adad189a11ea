"""The OpenAPI document is checked in (docs/openapi.json) and cannot drift from the code.

After a deliberate change to the API, regenerate it with
``PAYKIT_UPDATE_OPENAPI=1 python -m pytest tests/integration/http_api/test_api_openapi.py``
and review the diff like any other change to the API.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from paykit import InMemoryStorage, PaymentService, SandboxGateway
from paykit.api import create_app, insecure_demo_authenticator

CHECKED_IN = Path(__file__).parents[3] / "docs" / "openapi.json"


def _generated() -> dict[str, Any]:
    service = PaymentService(InMemoryStorage(), {"credit_card": SandboxGateway()})
    document: dict[str, Any] = create_app(
        service, authenticate=insecure_demo_authenticator
    ).openapi()
    return document


def test_the_checked_in_document_is_the_apps() -> None:
    """docs/openapi.json equals what the code generates (regenerate it as the docstring says)."""
    generated = _generated()
    if os.environ.get("PAYKIT_UPDATE_OPENAPI"):
        CHECKED_IN.write_text(json.dumps(generated, indent=2, sort_keys=True) + "\n")

    assert json.loads(CHECKED_IN.read_text()) == generated


def test_the_document_covers_every_endpoint_of_the_issue() -> None:
    """Every path the original app had, and paykit's additions, is in the document."""
    paths = set(_generated()["paths"])
    prefix = "/api/v1/payments"
    expected = {
        "/",
        "/{payment_id}/",
        "/{payment_id}/process/",
        "/{payment_id}/cancel/",
        "/{payment_id}/status/",
        "/{payment_id}/capture/",
        "/{payment_id}/void/",
        "/{payment_id}/logs/",
        "/methods/",
        "/methods/{method_id}/",
        "/methods/{method_id}/set-default/",
        "/refunds/",
        "/refunds/{refund_id}/",
        "/refunds/{refund_id}/process/",
        "/refunds/{refund_id}/cancel/",
        "/analytics/",
        "/analytics/payments/",
        "/analytics/declines/",
        "/analytics/refunds/",
        "/webhooks/{provider}/",
    }

    assert {prefix + path for path in expected} == paths
