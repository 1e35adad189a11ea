"""The review queue for :class:`~paykit.service.AsyncPaymentService`: the same steps, awaited."""

from __future__ import annotations

from paykit.domain.payment import Payment
from paykit.fraud._reviews import Reviews
from paykit.service._async_driver import AsyncDriver

__all__ = ["AsyncReviews"]


class AsyncReviews:
    """``PaymentService.reviews``, awaited (``service.reviews``); same documentation."""

    def __init__(self, driver: AsyncDriver, reviews: Reviews) -> None:
        self._driver = driver
        self._reviews = reviews
        self.list = driver.awaitable(reviews.list)
        self.get = driver.awaitable(reviews.get)

    async def approve(self, payment_id: str, *, by: str) -> Payment:
        """Same as :meth:`Reviews.approve`: approve a held payment (capture it if asked to)."""
        return await self._driver.run(self._reviews.approve_steps(payment_id, by=by))

    async def reject(self, payment_id: str, *, by: str) -> Payment:
        """Same as :meth:`Reviews.reject`: reject a held payment (void it, or refund it)."""
        return await self._driver.run(self._reviews.reject_steps(payment_id, by=by))
