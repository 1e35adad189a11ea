"""Storage: the unit-of-work contract and its in-memory reference implementation."""

from paykit.storage.base import (
    PaymentMethodRepository,
    PaymentRepository,
    RefundRepository,
    Storage,
    TransactionLogRepository,
    UnitOfWork,
)
from paykit.storage.memory import InMemoryStorage, InMemoryUnitOfWork

__all__ = [
    "InMemoryStorage",
    "InMemoryUnitOfWork",
    "PaymentMethodRepository",
    "PaymentRepository",
    "RefundRepository",
    "Storage",
    "TransactionLogRepository",
    "UnitOfWork",
]
