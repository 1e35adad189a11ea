"""Erasing a customer by crypto-shredding: their data key is destroyed, the rows stay.

A customer's payment methods (token, display details, metadata), payments (description,
metadata, next action, a risk context waiting for its screening) and fraud screening's risk
assessments (email and its domain, IP address, device id, card fingerprint) are sealed under
that customer's own data key when the storage encrypts (``SqlStorage(...,
encryption=KeyRing(...))``). :meth:`Erasure.erase_customer` first seals whatever of theirs is
still plaintext (written before encryption was turned on), then destroys the key. From then
on those fields read as unavailable (:data:`paykit.encryption.ERASED`, ``None``, ``{}``), in
the database and in every backup taken before, while amounts, statuses, fraud decisions and
the audit log stay -- the books still balance. The erasure itself is written to the audit log
of each of the customer's payments.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

import attrs

from paykit.domain.transaction_log import LogType
from paykit.errors import ErasureUnavailableError
from paykit.service._context import ServiceContext
from paykit.service._rules.transaction import Transaction

__all__ = ["Erasure", "ErasureReport", "SupportsErasure"]

_log = logging.getLogger("paykit.erasure")


@runtime_checkable
class SupportsErasure(Protocol):
    """A storage that can crypto-shred a customer (:class:`~paykit.storage.sql.SqlStorage`)."""

    def erase_customer_keys(self, customer_id: str) -> int:
        """Seal the customer's plaintext fields, destroy their data keys; how many keys."""
        ...


@attrs.frozen
class ErasureReport:
    """What :meth:`Erasure.erase_customer` did."""

    customer_id: str
    keys_destroyed: int
    """Data keys destroyed (0: the customer had no encrypted data, or was erased before)."""
    payments_logged: int
    """Payments whose audit log records the erasure."""


class Erasure:
    """Erasure requests: :meth:`erase_customer`."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def erase_customer(self, customer_id: str) -> ErasureReport:
        """Destroy ``customer_id``'s data key: their sealed fields become unreadable for good.

        Needs a storage that encrypts; raises :class:`~paykit.errors.ErasureUnavailableError`
        otherwise (the in-memory store keeps plaintext). Amounts, statuses and the audit log
        stay; the erasure is logged on each of the customer's payments. Calling it again is
        harmless. A process that cached the key keeps using it for up to a minute.
        """
        storage = self._context.storage
        if not isinstance(storage, SupportsErasure) or not _encrypts(storage):
            msg = (
                "erasing a customer destroys their encryption key, and this storage does not "
                "encrypt: use SqlStorage(..., encryption=KeyRing.from_env())"
            )
            raise ErasureUnavailableError(msg)
        destroyed = storage.erase_customer_keys(customer_id)

        def log_erasure(tx: Transaction) -> int:
            payments = tx.uow.payments.list(customer_id=customer_id)
            for payment in payments:
                tx.log(
                    payment.id,
                    LogType.CUSTOMER_ERASED,
                    "customer data erased: their encryption key was destroyed",
                    data={"customer_id": customer_id, "keys_destroyed": destroyed},
                )
            return len(payments)

        logged = self._context.transact(log_erasure)
        _log.info("erased customer %s: %d data key(s) destroyed", customer_id, destroyed)
        return ErasureReport(customer_id, destroyed, logged)


def _encrypts(storage: object) -> bool:
    fields = getattr(storage, "encryption", None)
    return bool(getattr(fields, "enabled", False))
