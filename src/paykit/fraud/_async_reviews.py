"""The review queue for :class:`~paykit.service.AsyncPaymentService`: the same steps, awaited."""

from __future__ import annotations

from functools import partial

import anyio.to_thread

from paykit.domain.payment import Payment
from paykit.domain.risk import RiskAssessment
from paykit.fraud._reviews import Reviews
from paykit.service._async import run_async
from paykit.service._context import ServiceContext
from paykit.service._payments import Payments
from paykit.service._refunds import Refunds

__all__ = ["AsyncReviews", "async_reviews"]


class AsyncReviews:
    """``PaymentService.reviews``, awaited (``service.reviews``); same documentation."""

    def __init__(self, context: ServiceContext, reviews: Reviews) -> None:
        self._context = context
        self._reviews = reviews

    async def list(self, *, limit: int | None = None) -> list[RiskAssessment]:
        """The review queue, oldest first (see :meth:`Reviews.list`)."""
        return await anyio.to_thread.run_sync(partial(self._reviews.list, limit=limit))

    async def approve(self, payment_id: str, *, by: str) -> Payment:
        """Approve a held payment (see :meth:`Reviews.approve`)."""
        return await run_async(self._context, self._reviews.approve_steps(payment_id, by=by))

    async def reject(self, payment_id: str, *, by: str) -> Payment:
        """Reject a held payment (see :meth:`Reviews.reject`)."""
        return await run_async(self._context, self._reviews.reject_steps(payment_id, by=by))


def async_reviews(context: ServiceContext) -> AsyncReviews:
    """The review queue of an ``AsyncPaymentService`` over ``context``."""
    return AsyncReviews(context, Reviews(context, Payments(context), Refunds(context)))
