"""Encrypted fields: every field a storage may seal at rest comes back exactly as written.

With ``SqlStorage(..., encryption=KeyRing(...))`` these are the sealed columns (see
docs/encryption.md): a payment method's token, display details and metadata; a payment's
description, metadata and next action; a refund's reason and metadata; the audit log's data;
a webhook's payload; an API idempotency record's response body; a risk assessment's email,
its domain, IP address, device id and card fingerprint; a risk list entry's value and note. A
storage that keeps them in
plaintext (the in-memory store) passes trivially, which is the point: encryption must change
nothing a caller can see. Values include text beyond ASCII, empty documents and a token
longer than the plaintext columns' 255 characters would hold once sealed.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101, PLR2004

from __future__ import annotations

from datetime import timedelta

import attrs

from paykit.domain.idempotent_request import IdempotentRequest, IdempotentRequestStatus
from paykit.domain.payment import NextAction, PaymentStatus
from paykit.domain.risk import RiskAssessment, RiskListEntry
from paykit.money import Money
from paykit.storage.base import Storage
from paykit.testing.repository_contract._records import (
    T0,
    _entry,
    _inbox_entry,
    _method,
    _new_id,
    _payment,
    _refund,
    _save,
)

_TEXT = "Zoë's café — 東京 🧾"
"""Text beyond ASCII: a sealed value must come back byte for byte."""


class EncryptedFieldContract:
    """Fields a storage may encrypt round-trip exactly, on insert and on update."""

    def test_payment_method_sealed_fields_round_trip(self, storage: Storage) -> None:
        """Token, brand, last 4, expiry, fingerprint, metadata: as written, then as updated."""
        method = attrs.evolve(
            _method(),
            provider_payment_method_id="tok_" + "x" * 150,
            metadata={"note": _TEXT, "nested": {"list": [1, "2.50", None, True]}},
            card_fingerprint="fp_contract_card",
        )
        _save(storage, method)
        with storage.unit_of_work() as uow:
            got = uow.payment_methods.get(method.id)
            assert got.provider_payment_method_id == "tok_" + "x" * 150
            assert (got.brand, got.last4, got.exp_month, got.exp_year) == ("visa", "4242", 12, 2031)
            assert got.card_fingerprint == "fp_contract_card"
            assert got.metadata == method.metadata
            got.metadata = {}
            got.brand = None
            got.last4 = None
            uow.payment_methods.update(got)
            uow.commit()
        with storage.unit_of_work() as uow:
            again = uow.payment_methods.get(method.id)
        assert again.metadata == {}
        assert (again.brand, again.last4, again.exp_month) == (None, None, 12)
        assert again.provider_payment_method_id == "tok_" + "x" * 150
        assert again.card_fingerprint == "fp_contract_card"

    def test_payment_sealed_fields_round_trip(self, storage: Storage) -> None:
        """Description, metadata and the (secret-free) next action come back as written."""
        payment = _payment(status=PaymentStatus.REQUIRES_ACTION)
        payment.description = _TEXT
        payment.metadata = {"email": "alice@example.com", "empty": {}}
        payment.next_action = NextAction(
            type="redirect", redirect_url="https://bank.example/3ds?t=1", instructions={"a": _TEXT}
        )
        _save(storage, payment)
        with storage.unit_of_work() as uow:
            got = uow.payments.get(payment.id)
            assert got.description == _TEXT
            assert got.metadata == {"email": "alice@example.com", "empty": {}}
            assert got.next_action is not None
            assert got.next_action.redirect_url == "https://bank.example/3ds?t=1"
            assert dict(got.next_action.instructions) == {"a": _TEXT}
            got.description = ""
            got.next_action = None
            uow.payments.update(got)
            uow.commit()
        with storage.unit_of_work() as uow:
            again = uow.payments.get(payment.id)
        assert again.description == ""
        assert again.next_action is None
        assert again.amount == payment.amount

    def test_refund_log_and_inbox_sealed_fields_round_trip(self, storage: Storage) -> None:
        """A refund's reason and metadata, log data and a webhook payload come back as written."""
        payment = _payment()
        refund = attrs.evolve(_refund(payment), reason=_TEXT, metadata={"ticket": _TEXT})
        entry = attrs.evolve(_entry(payment.id), data={"provider": {"response": _TEXT}})
        inbox = attrs.evolve(
            _inbox_entry(), payload={"body": {"email": "bob@example.com", "n": [1, 2]}}
        )
        _save(storage, payment, refund, entry, inbox)
        with storage.unit_of_work() as uow:
            got_refund = uow.refunds.get(refund.id)
            (got_entry,) = uow.transaction_log.list_for_payment(payment.id)
            got_inbox = uow.webhook_inbox.find(inbox.provider, inbox.event_id)
        assert (got_refund.reason, got_refund.metadata) == (_TEXT, {"ticket": _TEXT})
        assert got_entry.data == {"provider": {"response": _TEXT}}
        assert got_inbox is not None
        assert got_inbox.payload == {"body": {"email": "bob@example.com", "n": (1, 2)}}

    def test_idempotent_response_body_round_trips(self, storage: Storage) -> None:
        """An idempotency record's stored answer comes back as written."""
        request = IdempotentRequest(
            id=_new_id("idem"),
            owner="customer:cus_contract",
            key=_new_id("key"),
            fingerprint="sha256:" + "ab" * 32,
            status=IdempotentRequestStatus.COMPLETED,
            response_status=201,
            response_body='{"token": "' + _TEXT + '"}',
            created_at=T0,
            expires_at=T0 + timedelta(days=1),
        )
        with storage.unit_of_work() as uow:
            uow.idempotent_requests.add(request)
            uow.commit()
        with storage.unit_of_work() as uow:
            got = uow.idempotent_requests.get(request.id)
        assert got.response_body == '{"token": "' + _TEXT + '"}'
        assert got.response_status == 201

    def test_risk_personal_fields_and_list_values_round_trip(self, storage: Storage) -> None:
        """Email, IP, device id and fingerprint, and a listed value, come back as written.

        Updating an assessment keeps them; the list entry is found by its value.
        """
        assessment = RiskAssessment(
            id=_new_id("pay"),
            customer_id="cus_contract",
            amount=Money.of("12.50", "EUR"),
            email="zoë@例え.jp",
            email_domain="例え.jp",
            ip_address="2001:db8::7",
            ip_country="JP",
            device_id=_TEXT,
            card_fingerprint="fp_" + "y" * 200,
            created_at=T0,
            updated_at=T0,
        )
        entry = RiskListEntry(
            id=_new_id("rl"),
            list_name="blocked_emails",
            value="zoë@例え.jp",
            note=_TEXT,
            created_at=T0,
        )
        with storage.unit_of_work() as uow:
            uow.risk_assessments.add(assessment)
            uow.risk_lists.add(entry)
            uow.commit()
        with storage.unit_of_work() as uow:
            got = uow.risk_assessments.find(assessment.id)
            assert got == assessment
            assert got is not None
            got.device_id = None
            got.score = 40
            uow.risk_assessments.update(got)
            uow.commit()
        with storage.unit_of_work() as uow:
            again = uow.risk_assessments.find(assessment.id)
            listed = uow.risk_lists.find("blocked_emails", "zoë@例え.jp")
        assert again is not None
        assert (again.email, again.ip_address, again.device_id) == (
            "zoë@例え.jp",
            "2001:db8::7",
            None,
        )
        assert again.card_fingerprint == "fp_" + "y" * 200
        assert listed == entry
