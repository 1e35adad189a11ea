"""The webhook inbox's entry point: ``handle_webhook(provider, headers, raw_body)``.

Framework-neutral: the host's web framework hands over the raw request and answers with the
:class:`WebhookResult`'s status and body (``paykit.contrib`` has the glue for Starlette /
FastAPI, Flask and Django). The steps are verify (the adapter) -> record and apply in one
unit of work (``_rules/inbox.py``) -> answer. The status codes follow what providers expect:

====  ===========================================================================
200   applied, stored for later (payment not known yet), a duplicate, or ignored
400   the signature, timestamp or body did not verify, or the verified event carries
      content paykit refuses (an amount or currency that is not valid money): nothing
      was stored, and the body says what was wrong
404   no gateway of that name takes webhooks (check the URL the provider calls)
503   paykit could not verify (certificate fetch) or store the event, or the adapter
      failed on it: the provider retries
====  ===========================================================================

What an adapter raises while it verifies and reads a delivery decides the answer, so every
adapter -- paykit's and an integrator's -- is answered alike: a
:class:`~paykit.errors.WebhookSignatureError` or any other
:class:`~paykit.errors.PaykitError` (a :class:`~paykit.errors.ValidationError` for an
amount that is ``"NaN"``, a currency paykit does not know) is the provider's content being
refused, 400; a :class:`~paykit.errors.GatewayError` is paykit unable to verify for now,
503; anything else is a bug in the adapter, logged with its traceback and answered 503.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from functools import partial
from typing import Final

import attrs

from paykit.domain.dispute import Dispute
from paykit.domain.payment import Payment
from paykit.domain.refund import Refund
from paykit.domain.webhook_inbox import InboxEntry, InboxStatus
from paykit.errors import GatewayError, NotFound, PaykitError, WebhookSignatureError
from paykit.gateways._event_codec import event_from_payload
from paykit.gateways.base import (
    Gateway,
    GatewayResult,
    PaymentLookup,
    RefundLookup,
    WebhookEvent,
    WebhookEventType,
    WebhookGateway,
)
from paykit.service._context import ProviderFailure, ServiceContext, call_provider
from paykit.service._rules.inbox import apply_stored, receive, store
from paykit.service._rules.matching import match_payment, match_refund
from paykit.service._rules.provider_keys import Operation, provider_key
from paykit.service._rules.transaction import Transaction
from paykit.service._rules.validation import checked_id

__all__ = ["WebhookOutcome", "WebhookResult", "Webhooks"]

_log = logging.getLogger("paykit.webhooks")

_W = WebhookEventType
_PAYMENT_EVENTS: Final = frozenset(
    {
        _W.PAYMENT_SUCCEEDED,
        _W.PAYMENT_FAILED,
        _W.PAYMENT_REQUIRES_ACTION,
        _W.PAYMENT_PROCESSING,
        _W.PAYMENT_AUTHORIZED,
        _W.PAYMENT_CANCELED,
    }
)
_REFUND_EVENTS: Final = frozenset({_W.REFUND_SUCCEEDED, _W.REFUND_FAILED, _W.REFUND_PENDING})


class WebhookOutcome(StrEnum):
    """What :meth:`PaymentService.handle_webhook` did with a delivery."""

    APPLIED = "applied"
    UNMATCHED = "unmatched"
    """Stored; applied when the payment or refund it names turns up."""
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    REJECTED = "rejected"
    UNKNOWN_PROVIDER = "unknown_provider"
    UNAVAILABLE = "unavailable"


@attrs.frozen(kw_only=True)
class WebhookResult:
    """The HTTP answer to give the provider, and what paykit did."""

    status_code: int
    body: str
    outcome: WebhookOutcome
    event_id: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the provider should consider the delivery done (a 2xx answer)."""
        return self.status_code < 300  # noqa: PLR2004 - HTTP's own boundary


class Webhooks:
    """Provider webhooks and the records they bring: the inbox, disputes (``service.webhooks``)."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def handle(self, provider: str, headers: Mapping[str, str], raw_body: bytes) -> WebhookResult:
        """Verify, record once and apply a provider's webhook; say what to answer.

        ``provider`` is the gateway's name (``"stripe"``), usually taken from the URL the
        provider calls. ``raw_body`` must be the exact bytes received: the signature covers
        them. Never raises for anything the provider sent; a bug or a storage outage is
        logged and answered with 503 so the provider delivers the event again.
        """
        verified = self._verified(provider, headers, raw_body)
        if isinstance(verified, WebhookResult):
            return verified
        gateway, event = verified
        try:
            event = self._complete(gateway, event)
            receipt = self._context.transact(partial(receive, event=event))
        except Exception:  # noqa: BLE001 - storage down or a bug: the provider must retry
            _log.exception("could not record %s event %s", provider, event.event_id)
            return _unavailable("could not record the event; deliver it again", event.event_id)
        return _recorded(str(receipt), event.event_id)

    def store(self, provider: str, headers: Mapping[str, str], raw_body: bytes) -> WebhookResult:
        """Verify and record a webhook without applying it; :meth:`apply_stored` applies it.

        For a host that applies events in the background (``paykit.contrib.celery``): the
        endpoint answers as soon as the event is stored -- one short unit of work, no
        provider call -- and a task applies it. Answers as :meth:`handle` does; a stored
        event's outcome is ``unmatched`` until applied (an unmatched sweep applies it too).
        """
        verified = self._verified(provider, headers, raw_body)
        if isinstance(verified, WebhookResult):
            return verified
        _, event = verified
        try:
            receipt = self._context.transact(partial(store, event=event))
        except Exception:  # noqa: BLE001 - storage down or a bug: the provider must retry
            _log.exception("could not store %s event %s", provider, event.event_id)
            return _unavailable("could not store the event; deliver it again", event.event_id)
        return _recorded(str(receipt), event.event_id)

    def _verified(
        self, provider: str, headers: Mapping[str, str], raw_body: bytes
    ) -> tuple[WebhookGateway, WebhookEvent] | WebhookResult:
        """The gateway and its verified event, or the answer to give instead (404, 400...)."""
        gateway = self._context.gateways.find(provider)
        if gateway is None or not isinstance(gateway, WebhookGateway):
            return WebhookResult(
                status_code=404,
                body=f"no gateway named {provider!r} takes webhooks",
                outcome=WebhookOutcome.UNKNOWN_PROVIDER,
            )
        event = _parse(gateway, provider, headers, raw_body)
        if isinstance(event, WebhookResult):
            return event
        return gateway, event

    def apply_stored(self, provider: str, event_id: str) -> WebhookOutcome:
        """Apply an event :meth:`store` recorded; ``duplicate`` if it was applied already.

        Completes an event that carries no outcome with a provider lookup first, outside
        any unit of work, as :meth:`handle` does. Raises ``NotFound`` for an event never
        stored; storage errors propagate, so that the caller (a task) retries.
        """
        entry = self._context.read(lambda tx: tx.uow.webhook_inbox.find(provider, event_id))
        if entry is None:
            raise NotFound("webhook inbox entry", f"{provider}:{event_id}")
        if entry.status is not InboxStatus.UNMATCHED:
            return WebhookOutcome.DUPLICATE
        gateway = self._context.gateways.find(provider)
        event = event_from_payload(entry.payload)
        if gateway is not None and isinstance(gateway, WebhookGateway):
            event = self._complete(gateway, event)

        def work(tx: Transaction) -> str:
            current = tx.uow.webhook_inbox.find(provider, event_id)
            assert current is not None  # noqa: S101 - inbox entries are never deleted
            return str(apply_stored(tx, current, event))

        return WebhookOutcome(self._context.transact(work))

    def list_disputes(self, payment_id: str) -> list[Dispute]:
        """Every dispute of a payment, oldest first (``NotFound`` for an unknown payment)."""
        payment_id = checked_id(payment_id, "payment_id")

        def work(tx: Transaction) -> list[Dispute]:
            tx.uow.payments.get(payment_id)
            return list(tx.uow.disputes.list_for_payment(payment_id))

        return self._context.read(work)

    def get_dispute(self, dispute_id: str) -> Dispute:
        """Return one dispute (``NotFound`` if there is none)."""
        dispute_id = checked_id(dispute_id, "dispute_id")
        return self._context.read(lambda tx: tx.uow.disputes.get(dispute_id))

    def list_events(self, payment_id: str) -> list[InboxEntry]:
        """The provider events applied to a payment, in the order received."""
        payment_id = checked_id(payment_id, "payment_id")
        return list(
            self._context.read(lambda tx: tx.uow.webhook_inbox.list_for_payment(payment_id))
        )

    def list_unmatched(self, *, limit: int | None = None) -> list[InboxEntry]:
        """Stored events still waiting for a payment or refund paykit does not know."""
        return list(self._context.read(lambda tx: tx.uow.webhook_inbox.list_unmatched(limit=limit)))

    def _complete(self, gateway: WebhookGateway, event: WebhookEvent) -> WebhookEvent:
        """Ask the provider for the object only when the event carries too little to decide.

        Most events carry the object's state and are applied as they are: the webhook path
        does not call the provider. A payment or refund event without an outcome, about a
        record paykit knows, is completed with a lookup (outside any unit of work); if the
        lookup fails the event is applied as received (logged) and reconciliation decides.
        """
        if event.result is not None or not isinstance(gateway, Gateway):
            return event
        if event.type in _PAYMENT_EVENTS:
            found = self._look_up_payment(gateway, event)
        elif event.type in _REFUND_EVENTS:
            found = self._look_up_refund(gateway, event)
        else:
            return event
        if isinstance(found, ProviderFailure):
            _log.warning("could not look up the object of %s: %s", event.event_id, found.describe())
            return event
        return event if found is None else attrs.evolve(event, result=found)

    def _look_up_payment(
        self, gateway: Gateway, event: WebhookEvent
    ) -> GatewayResult | ProviderFailure | None:
        payment = self._context.read(partial(_known_payment, event=event))
        if payment is None or payment.provider != gateway.name:
            return None
        lookup = PaymentLookup(
            payment_id=payment.id,
            provider_payment_id=payment.provider_payment_id or event.provider_payment_id,
            idempotency_key=provider_key(payment.id, Operation.CHARGE),
            amount=payment.amount,
            submitted_at=payment.submitted_at,
        )
        return call_provider(partial(gateway.retrieve_payment, lookup))

    def _look_up_refund(
        self, gateway: Gateway, event: WebhookEvent
    ) -> GatewayResult | ProviderFailure | None:
        known = self._context.read(partial(_known_refund, event=event))
        if known is None:
            return None
        refund, payment = known
        if payment.provider != gateway.name or payment.provider_payment_id is None:
            return None
        lookup = RefundLookup(
            refund_id=refund.id,
            provider_refund_id=refund.provider_refund_id or event.provider_refund_id,
            provider_payment_id=payment.provider_payment_id,
            idempotency_key=provider_key(refund.id, Operation.REFUND),
            amount=refund.amount,
        )
        return call_provider(partial(gateway.retrieve_refund, lookup))


def _parse(
    gateway: WebhookGateway, provider: str, headers: Mapping[str, str], raw_body: bytes
) -> WebhookEvent | WebhookResult:
    """The adapter's verified, normalised event, or the answer to give instead (see above)."""
    try:
        return gateway.parse_webhook(headers, raw_body)
    except WebhookSignatureError as error:
        _log.warning("rejected a %s webhook: %s", provider, error)
        return _rejected(str(error))
    except GatewayError as error:  # e.g. PayPal's certificate could not be fetched
        _log.warning("could not verify or read a %s webhook: %s", provider, error)
        return _unavailable(f"could not verify or read the event: {error}")
    except PaykitError as error:  # e.g. an amount of "NaN": the content is refused
        refused = _rejected(f"the event carries content paykit refuses: {error}")
        _log.warning("%s webhook %s", provider, refused.body)  # shortened, as answered
        return refused
    except Exception:  # noqa: BLE001 - an adapter's bug must not reach the host's framework
        _log.exception("could not read a %s webhook", provider)
        return _unavailable("could not read the event; deliver it again")


_MAX_ANSWER_LENGTH: Final = 500
"""Characters of an error a 400 answer repeats: enough to name the field, never a whole body."""


def _rejected(reason: str) -> WebhookResult:
    if len(reason) > _MAX_ANSWER_LENGTH:
        reason = reason[: _MAX_ANSWER_LENGTH - 3] + "..."
    return WebhookResult(
        status_code=400, body=f"rejected: {reason}", outcome=WebhookOutcome.REJECTED
    )


def _recorded(receipt: str, event_id: str) -> WebhookResult:
    """The 200 for an event recorded (applied, stored, a duplicate or ignored)."""
    return WebhookResult(
        status_code=200, body=receipt, outcome=WebhookOutcome(receipt), event_id=event_id
    )


def _unavailable(body: str, event_id: str | None = None) -> WebhookResult:
    return WebhookResult(
        status_code=503, body=body, outcome=WebhookOutcome.UNAVAILABLE, event_id=event_id
    )


def _known_payment(tx: Transaction, *, event: WebhookEvent) -> Payment | None:
    """The payment worth a lookup: the one the inbox would apply the event to, if any."""
    return match_payment(tx, event).record


def _known_refund(tx: Transaction, *, event: WebhookEvent) -> tuple[Refund, Payment] | None:
    """The refund worth a lookup, and its payment (see :func:`_known_payment`)."""
    refund = match_refund(tx, event).record
    if refund is None:
        return None
    return refund, tx.uow.payments.get(refund.payment_id)
