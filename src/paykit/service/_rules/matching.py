"""Which payment or refund a provider's event is about: one matcher for every path.

An event names its record in two ways. The provider's id (``provider_payment_id``) is the
provider's own and comes in a signed event; paykit's id (``payment_id``) travels in
metadata, which the host -- or anyone with access to the provider account -- can write.
So the provider's id decides, and paykit's id is trusted only where it agrees:

* both ids name the same record, or only one id names a record that does not contradict
  the other (its provider id is still unknown, or equal): that record;
* they name two different records: a **contradiction**, reported with both records so the
  caller flags them for review and applies the event to neither;
* paykit's id names a record whose provider id is another one, and the provider's id names
  nothing: no match (the event waits as unmatched; it may be about an object paykit has
  not heard of yet).

The webhook path uses it twice -- to decide whether an event without an outcome is worth a
provider lookup, and to apply the event -- so both always agree on the record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import attrs

from paykit.domain.payment import Payment
from paykit.domain.refund import Refund
from paykit.errors import NotFound
from paykit.gateways.base import WebhookEvent
from paykit.service._rules.transaction import Transaction

__all__ = ["Match", "match_payment", "match_refund"]

R = TypeVar("R", Payment, Refund)


@attrs.frozen
class Match(Generic[R]):
    """The record an event is about, or the two records it contradictorily names."""

    record: R | None
    """The one record the event is about; ``None`` when it is unknown or contradicted."""
    named_by_provider: R | None = None
    """With a contradiction: the record the provider's id names."""
    named_by_paykit: R | None = None
    """With a contradiction: the record paykit's own id (from metadata) names."""

    @property
    def contradiction(self) -> bool:
        """Whether the event's two ids name two different records."""
        return self.named_by_provider is not None


def match_payment(tx: Transaction, event: WebhookEvent) -> Match[Payment]:
    """The payment ``event`` is about (see the module docstring for the rules)."""
    payments = tx.uow.payments
    return _match(
        paykit_id=event.payment_id,
        provider_id=event.provider_payment_id,
        get=payments.get,
        find=lambda provider_id: payments.find_by_provider_id(event.provider, provider_id),
        known_provider_id=lambda payment: payment.provider_payment_id,
    )


def match_refund(tx: Transaction, event: WebhookEvent) -> Match[Refund]:
    """The refund ``event`` is about, by the same rules as :func:`match_payment`."""
    refunds = tx.uow.refunds
    return _match(
        paykit_id=event.refund_id,
        provider_id=event.provider_refund_id,
        get=refunds.get,
        find=lambda provider_id: refunds.find_by_provider_id(event.provider, provider_id),
        known_provider_id=lambda refund: refund.provider_refund_id,
    )


def _match(
    *,
    paykit_id: str | None,
    provider_id: str | None,
    get: Callable[[str], R],
    find: Callable[[str], R | None],
    known_provider_id: Callable[[R], str | None],
) -> Match[R]:
    by_paykit = None
    if paykit_id is not None:
        try:
            by_paykit = get(paykit_id)
        except NotFound:
            by_paykit = None
    by_provider = None if provider_id is None else find(provider_id)
    if by_provider is not None:
        if by_paykit is not None and by_paykit.id != by_provider.id:
            return Match(None, named_by_provider=by_provider, named_by_paykit=by_paykit)
        return Match(by_provider)
    if by_paykit is not None and (
        provider_id is None or known_provider_id(by_paykit) in (None, provider_id)
    ):
        return Match(by_paykit)
    return Match(None)
