"""The fraud parts an :class:`~paykit.service.AsyncPaymentService` carries: reviews and lists."""

from __future__ import annotations

from paykit.fraud._async_reviews import AsyncReviews
from paykit.fraud._lists import RiskLists
from paykit.fraud._parts import service_parts
from paykit.service._async_driver import AsyncDriver
from paykit.service._payments import Payments
from paykit.service._refunds import Refunds

__all__ = ["AsyncRiskLists", "async_service_parts"]


class AsyncRiskLists:
    """``PaymentService.risk_lists``, awaited: each method runs in a worker thread."""

    def __init__(self, driver: AsyncDriver, risk_lists: RiskLists) -> None:
        self.add = driver.awaitable(risk_lists.add)
        self.remove = driver.awaitable(risk_lists.remove)
        self.contains = driver.awaitable(risk_lists.contains)
        self.entries = driver.awaitable(risk_lists.entries)


def async_service_parts(
    driver: AsyncDriver, payments: Payments, refunds: Refunds
) -> tuple[AsyncReviews, AsyncRiskLists]:
    """The review queue and the block/allow lists of an async service, over its driver."""
    reviews, risk_lists = service_parts(driver.context, payments, refunds)
    return AsyncReviews(driver, reviews), AsyncRiskLists(driver, risk_lists)
