"""The refund ceiling holds through HTTP: concurrent refund requests never exceed the payment."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from paykit import PaymentService

from ._api_support import Client, paid


def test_sixteen_concurrent_refunds_of_30_on_100_accept_exactly_3(
    ada: Client, staff: Client, service: PaymentService
) -> None:
    """Exactly three 30.00 refunds fit in 100.00; the others are refused with the balance."""
    payment = paid(ada, "100.00")
    body = {"payment_id": payment["id"], "amount": "30.00"}

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers: list[httpx.Response] = list(
            pool.map(lambda _: staff.post("/refunds/", json=body), range(16))
        )

    accepted = [answer for answer in answers if answer.status_code == 201]
    refused = [answer for answer in answers if answer.status_code != 201]
    assert len(accepted) == 3
    assert {answer.status_code for answer in refused} <= {409, 422}
    for answer in refused:
        if answer.status_code == 422:
            assert "10.00 USD" in answer.json()["detail"]  # what is left to refund
    stored = service.get_payment(payment["id"])
    assert str(stored.refund_reserved_amount.amount) == "90.00"
    assert len(service.list_refunds(payment["id"])) == 3
