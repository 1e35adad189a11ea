"""``Idempotency-Key``: replay, reuse, a request still running, keys per caller, 5xx released."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from paykit import PaymentService, SandboxGateway, Storage
from paykit.api import sweep_idempotent_requests
from paykit.api._idempotency import IdempotencyGate, fingerprint
from paykit.api._problems import ApiProblem

from ._api_support import Client, add_card, paid


def _payment_body(method_id: str, amount: str = "20.00") -> dict[str, Any]:
    return {"order_id": "o", "payment_method_id": method_id, "amount": amount, "currency": "USD"}


def test_the_same_key_and_body_replays_the_first_answer(
    ada: Client, service: PaymentService
) -> None:
    """A repeated create answers 201 with the same payment, and only one payment exists."""
    method = add_card(ada)
    headers = {"Idempotency-Key": "create-1"}

    first = ada.post("/", json=_payment_body(method["id"]), headers=headers)
    again = ada.post("/", json=_payment_body(method["id"]), headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(service.list_payments(customer_id="cus_ada")) == 1


def test_a_replayed_process_charges_once(ada: Client, sandbox: SandboxGateway) -> None:
    """Processing twice with one key calls the provider once and answers the same."""
    method = add_card(ada)
    payment = ada.post("/", json=_payment_body(method["id"])).json()
    headers = {"Idempotency-Key": "process-1"}

    first = ada.post(f"/{payment['id']}/process/", headers=headers)
    again = ada.post(f"/{payment['id']}/process/", headers=headers)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["status"] == first.json()["status"] == "completed"
    assert len(sandbox.ledger_for(payment["id"])) == 1


def test_an_error_answer_is_replayed_with_its_status(ada: Client) -> None:
    """A 409 problem is stored and replayed as the same 409, not retried."""
    payment = paid(ada)
    headers = {"Idempotency-Key": "cancel-1"}

    first = ada.post(f"/{payment['id']}/cancel/", headers=headers)
    again = ada.post(f"/{payment['id']}/cancel/", headers=headers)

    assert (first.status_code, again.status_code) == (409, 409)
    assert again.json() == first.json()
    assert again.headers["content-type"] == "application/problem+json"


def test_the_same_key_with_another_body_is_a_422(ada: Client) -> None:
    """Reusing a key for a different request is refused with idempotency_key_reused."""
    method = add_card(ada)
    headers = {"Idempotency-Key": "create-2"}
    ada.post("/", json=_payment_body(method["id"], "20.00"), headers=headers)

    other = ada.post("/", json=_payment_body(method["id"], "21.00"), headers=headers)

    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["field"] == "Idempotency-Key"


def test_keys_belong_to_their_caller(ada: Client, bob: Client, service: PaymentService) -> None:
    """Bob using Ada's key gets his own answer, not hers."""
    headers = {"Idempotency-Key": "shared-key"}
    ada_method = add_card(ada)
    bob_method = add_card(bob)

    mine = ada.post("/", json=_payment_body(ada_method["id"]), headers=headers)
    his = bob.post("/", json=_payment_body(bob_method["id"]), headers=headers)

    assert (mine.status_code, his.status_code) == (201, 201)
    assert his.json()["customer_id"] == "cus_bob"
    assert his.json()["id"] != mine.json()["id"]
    assert len(service.list_payments()) == 2


def test_a_second_request_while_the_first_runs_is_a_409(
    ada: Client, sandbox: SandboxGateway
) -> None:
    """While a request with a key is still running, another with that key is told to wait."""
    method = add_card(ada)
    payment = ada.post("/", json=_payment_body(method["id"])).json()
    headers = {"Idempotency-Key": "slow-1"}
    entered, release = threading.Event(), threading.Event()
    charge = sandbox.charge

    def slow_charge(request: Any) -> Any:
        entered.set()
        release.wait(10)
        return charge(request)

    sandbox.charge = slow_charge  # type: ignore[method-assign]  # hold the first request
    answers: list[Any] = []
    first = threading.Thread(
        target=lambda: answers.append(ada.post(f"/{payment['id']}/process/", headers=headers))
    )
    first.start()
    assert entered.wait(10)

    busy = ada.post(f"/{payment['id']}/process/", headers=headers)
    release.set()
    first.join(10)

    assert busy.status_code == 409
    assert busy.json()["code"] == "idempotency_request_in_progress"
    assert busy.headers["retry-after"] == "1"
    assert answers[0].status_code == 200


def test_a_server_error_releases_the_key(ada: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """An answer of 500 or more is not stored: the same key may be retried and then succeed."""
    method = add_card(ada)
    payment = ada.post("/", json=_payment_body(method["id"])).json()
    headers = {"Idempotency-Key": "retry-after-500"}

    def broken(record: object) -> object:
        msg = f"a bug while answering about {record!r}"
        raise ZeroDivisionError(msg)

    monkeypatch.setattr("paykit.api._endpoints.payment_out", broken)
    crashed = ada.post(f"/{payment['id']}/process/", headers=headers)
    monkeypatch.undo()
    retried = ada.post(f"/{payment['id']}/process/", headers=headers)

    assert crashed.status_code == 500
    assert crashed.json()["detail"] == "an unexpected error happened"
    assert "ZeroDivisionError" not in crashed.text
    assert retried.status_code == 409  # the first attempt did process it; the retry ran anew
    assert retried.json()["code"] == "invalid_state_transition"


def test_a_bad_key_is_refused(ada: Client) -> None:
    """A key longer than 255 characters is a 422 naming the header."""
    answer = ada.post(
        "/methods/",
        json={"type": "credit_card", "token": "tok_visa"},
        headers={"Idempotency-Key": "k" * 256},
    )

    assert answer.status_code == 422
    assert answer.json()["field"] == "Idempotency-Key"


def test_stored_answers_expire_and_the_sweep_deletes_them(api_storage: Storage) -> None:
    """After the TTL a key starts afresh; sweep_idempotent_requests removes expired records."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    service = PaymentService(api_storage, {"credit_card": SandboxGateway()}, clock=lambda: now[0])
    gate = IdempotencyGate(service, ttl=timedelta(hours=24))
    claim = fingerprint("POST", "/x", b"{}")

    assert gate.begin("customer:c", "k1", claim) is None
    gate.finish("customer:c", "k1", 201, b'{"id": "x", "client_secret": "pi_secret"}')
    replay = gate.begin("customer:c", "k1", claim)
    assert replay is not None
    assert (replay.status, replay.body) == (201, b'{"id":"x"}')  # the secret is never stored

    now[0] += timedelta(hours=25)
    assert sweep_idempotent_requests(service) == 1
    assert sweep_idempotent_requests(service) == 0
    assert gate.begin("customer:c", "k1", fingerprint("POST", "/x", b"{}")) is None


def test_a_claim_whose_request_died_stops_blocking_its_key(api_storage: Storage) -> None:
    """An in-progress claim older than the lock timeout may be taken over by a retry."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    service = PaymentService(api_storage, {"credit_card": SandboxGateway()}, clock=lambda: now[0])
    gate = IdempotencyGate(service, lock_timeout=timedelta(minutes=1))
    claim = fingerprint("POST", "/x", b"{}")
    assert gate.begin("customer:c", "k2", claim) is None  # and the process is killed here

    now[0] += timedelta(seconds=30)
    with pytest.raises(ApiProblem) as busy:
        gate.begin("customer:c", "k2", claim)
    now[0] += timedelta(minutes=1)

    assert busy.value.status == 409
    assert gate.begin("customer:c", "k2", claim) is None
