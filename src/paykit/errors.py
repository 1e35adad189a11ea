"""Every error paykit raises, under one root.

Each class has a stable, machine-readable ``code`` (a string that will not change between
releases) and a message that says what to fix. Errors never carry card numbers or secrets:
the root redacts any card number from the message and from every text attribute as it is
set, so no subclass (nor an integrator's) can echo one back, whatever input it quotes.

::

    PaykitError
    ├── ValidationError                     bad input; ``field`` names the culprit
    │   ├── InvalidAmountError              amount: not a plain decimal, too precise, too large, ...
    │   │   └── InvalidRefundAmountError    any invalid refund amount, incl. above the balance
    │   ├── UnknownCurrencyError            not an active ISO 4217 code
    │   ├── CurrencyMismatchError           arithmetic or refund across currencies
    │   ├── CardDataRejectedError           a field looks like a card number (PCI: tokens only)
    │   └── FraudRuleError                  a fraud rule that cannot load (names rule and line)
    ├── InvalidStateTransition              a move the state machine does not allow
    │   └── PaymentNotRefundableError       refund of a payment that is not completed
    ├── NotFound                            no such payment, refund or payment method
    ├── IdempotencyConflict                 same idempotency key, different parameters
    ├── ConcurrencyConflict                 another unit of work changed the same record first
    ├── PaymentMethodInactiveError          the payment method was deactivated
    ├── PaymentMethodOwnershipError         the payment method belongs to another customer
    ├── UnsupportedPaymentMethodError       no gateway is configured for the method type
    ├── GatewayError                        a provider refused the request for a reason of ours
    │   └── GatewayConfigurationError       bad credentials, bad request, missing permission
    ├── WebhookSignatureError               a webhook that does not verify (answer 400)
    ├── PaymentProcessingError              processing failed with an error (not a decline)
    ├── RefundProcessingError               refund processing failed with an error
    ├── EncryptionKeyMissingError           a stored value names a key the ring lacks
    ├── DecryptionError                     a stored ciphertext does not authenticate
    └── ErasureUnavailableError             erasing a customer needs an encrypting storage
"""

from __future__ import annotations

from paykit._card_numbers import redact_card_numbers

__all__ = [
    "CardDataRejectedError",
    "ConcurrencyConflict",
    "CurrencyMismatchError",
    "DecryptionError",
    "EncryptionKeyMissingError",
    "ErasureUnavailableError",
    "FraudRuleError",
    "GatewayConfigurationError",
    "GatewayError",
    "IdempotencyConflict",
    "InvalidAmountError",
    "InvalidRefundAmountError",
    "InvalidStateTransition",
    "NotFound",
    "PaykitError",
    "PaymentMethodInactiveError",
    "PaymentMethodOwnershipError",
    "PaymentNotRefundableError",
    "PaymentProcessingError",
    "RefundProcessingError",
    "UnknownCurrencyError",
    "UnsupportedPaymentMethodError",
    "ValidationError",
    "WebhookSignatureError",
]


class PaykitError(Exception):
    """Root of every paykit error; ``code`` is stable and machine-readable."""

    code: str = "paykit_error"

    def __init__(self, message: str) -> None:
        message = redact_card_numbers(message)
        super().__init__(message)
        self.message = message

    def __setattr__(self, name: str, value: object) -> None:
        # Errors quote what callers and providers sent (ids, amounts, messages): one card
        # number pasted into any of them must not reach a log or an HTTP body through us.
        if isinstance(value, str):
            value = redact_card_numbers(value)
        super().__setattr__(name, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ValidationError(PaykitError):
    """Input that paykit refuses; ``field`` names which argument to fix."""

    code = "validation_error"

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message
        """The message without the field name in front."""


class InvalidAmountError(ValidationError):
    """An amount that is not a valid, representable sum of money."""

    code = "invalid_amount"


class InvalidRefundAmountError(InvalidAmountError):
    """A refund amount that is invalid, not positive or above the refundable balance."""

    code = "invalid_refund_amount"


class UnknownCurrencyError(ValidationError):
    """A currency code that is not an active ISO 4217 currency."""

    code = "unknown_currency"


class CurrencyMismatchError(ValidationError):
    """Two amounts in different currencies were combined."""

    code = "currency_mismatch"


class CardDataRejectedError(ValidationError):
    """A field carries what looks like a card number; paykit stores provider tokens only."""

    code = "card_data_rejected"


class FraudRuleError(ValidationError):
    """A fraud rule that cannot be loaded: an unknown attribute, a bad operator, a bad field.

    ``rule`` names the rule (its position, ``#3``, when it has none yet) and ``line`` the line
    of its rule file where the problem is (``None`` for a rule built in Python); ``field`` is
    the file and line (``rules.toml, line 12``). Nothing was loaded.
    """

    code = "fraud_rule_invalid"

    def __init__(
        self, message: str, *, rule: str, line: int | None = None, source: str = "rules"
    ) -> None:
        where = source if line is None else f"{source}, line {line}"
        super().__init__(f"rule {rule!r}: {message}", field=where)
        self.rule = rule
        self.line = line


class InvalidStateTransition(PaykitError):  # noqa: N818 - public vocabulary
    """A status change that the state machine does not allow; nothing was changed."""

    code = "invalid_state_transition"

    def __init__(self, message: str, *, current: str, requested: str) -> None:
        super().__init__(message)
        self.current = current
        self.requested = requested


class PaymentNotRefundableError(InvalidStateTransition):
    """A refund was asked of a payment that is not completed or partially refunded."""

    code = "payment_not_refundable"


class NotFound(PaykitError):  # noqa: N818 - the name is part of the public vocabulary
    """No record of that kind with that id."""

    code = "not_found"

    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"no {kind} with id {record_id!r}")
        self.kind = kind
        self.record_id = record_id


class IdempotencyConflict(PaykitError):  # noqa: N818 - public vocabulary
    """An idempotency key was reused with different parameters."""

    code = "idempotency_conflict"


class ConcurrencyConflict(PaykitError):  # noqa: N818 - public vocabulary
    """Another unit of work changed the same record first; retrying is safe."""

    code = "concurrency_conflict"
    retryable = True


class PaymentMethodInactiveError(PaykitError):
    """The payment method has been deactivated and cannot be charged."""

    code = "payment_method_inactive"


class PaymentMethodOwnershipError(PaykitError):
    """The payment method belongs to a different customer than the payment."""

    code = "payment_method_not_owned"


class UnsupportedPaymentMethodError(PaykitError):
    """No gateway is configured for this payment method type (or provider)."""

    code = "unsupported_payment_method"


class GatewayError(PaykitError):
    """A provider refused a request because of something on our side.

    ``gateway_code`` and ``gateway_message`` are the provider's own words (never a secret),
    ``request_id`` the provider's id for the request, ``retryable`` whether the same call
    may succeed later without a change.
    """

    code = "gateway_error"

    def __init__(
        self,
        message: str,
        *,
        gateway_code: str | None = None,
        gateway_message: str | None = None,
        request_id: str | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.gateway_code = gateway_code
        self.gateway_message = gateway_message
        self.request_id = request_id
        self.retryable = retryable


class GatewayConfigurationError(GatewayError):
    """Credentials, permissions or request shape are wrong: fix the configuration."""

    code = "gateway_configuration_error"


class WebhookSignatureError(PaykitError):
    """A webhook whose signature, timestamp or headers do not verify; nothing was recorded."""

    code = "webhook_signature_invalid"


class PaymentProcessingError(PaykitError):
    """Processing a payment ended in an error rather than an outcome.

    ``payment_id`` names the payment; its stored status says what is known (``failed`` when
    the provider refused the request, ``processing`` when the outcome is unknown).
    """

    code = "payment_processing_error"

    def __init__(self, message: str, *, payment_id: str) -> None:
        super().__init__(message)
        self.payment_id = payment_id


class RefundProcessingError(PaykitError):
    """Processing a refund ended in an error rather than an outcome."""

    code = "refund_processing_error"

    def __init__(self, message: str, *, refund_id: str) -> None:
        super().__init__(message)
        self.refund_id = refund_id


class EncryptionKeyMissingError(PaykitError):
    """A stored value was encrypted under a key that the storage's key ring does not hold.

    ``key_id`` names the key (a customer data key reads ``@<id>``). Add the key to the ring
    (``PAYKIT_ENCRYPTION_KEYS``), or give the storage a ring at all; nothing was changed.
    """

    code = "encryption_key_missing"

    def __init__(self, message: str, *, key_id: str) -> None:
        super().__init__(message)
        self.key_id = key_id


class DecryptionError(PaykitError):
    """A stored ciphertext does not authenticate: tampered with, or moved from its place.

    Each value is bound to its table, column and row id, so a ciphertext copied to another
    row or column fails here. ``location`` names the place (``table.column[row id]``),
    never the value.
    """

    code = "decryption_failed"

    def __init__(self, message: str, *, location: str) -> None:
        super().__init__(message)
        self.location = location


class ErasureUnavailableError(PaykitError):
    """``erase_customer`` on a storage that does not encrypt: there is no key to destroy.

    Crypto-shredding needs ``SqlStorage(..., encryption=KeyRing(...))``; the in-memory store
    keeps plaintext. Nothing was changed.
    """

    code = "erasure_unavailable"
