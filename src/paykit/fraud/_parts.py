"""The fraud parts a :class:`~paykit.service.PaymentService` carries: reviews and lists."""

from __future__ import annotations

from paykit.fraud._lists import RiskLists
from paykit.fraud._reviews import Reviews
from paykit.service._context import ServiceContext
from paykit.service._payments import Payments
from paykit.service._refunds import Refunds

__all__ = ["service_parts"]


def service_parts(
    context: ServiceContext, payments: Payments, refunds: Refunds
) -> tuple[Reviews, RiskLists]:
    """The review queue and the block/allow lists over the service's context."""
    return Reviews(context, payments, refunds), RiskLists(context)
