"""The harness of the webhook contracts: a provider's adapter and fake, as the tests drive them.

Stripe and PayPal tell paykit the same facts in their own words: a payment's money was taken,
a refund settled or failed, a dispute was opened and decided. The contracts --
:class:`~_inbox_contract.InboxContract` (events through ``PaymentService.handle_webhook``) and
:class:`~_dispute_contract.DisputeContract` (events through the adapter's ``parse_webhook``) --
say what must then happen, once for every provider. Each provider supplies a :class:`Shop`:
the service over its adapter and fake, and hooks that make, sign and deliver its events.

A provider's test module subclasses a contract as ``Test<Provider>...`` (pytest collects only
those), sets ``shop_type`` to its shop and lists its own cases (statuses, malformed money,
forgeries) in the provider's words. Tests with no twin at the other provider stay in the
provider's module, as methods of its subclass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, Self

import attrs
import pytest

from paykit import (
    ALL_EVENTS,
    Event,
    LogType,
    Money,
    Payment,
    PaymentService,
    PaymentStatus,
    WebhookResult,
)
from paykit.gateways import WebhookEvent, WebhookEventType

_P = PaymentStatus

PAYMENT_ID = "pay_test_1"
"""paykit's payment id in the charges the dispute contract makes straight through the adapter."""

Facts = Mapping[str, Any]
"""A dispute's state in the provider's words: keyword arguments of the provider's fake."""


@attrs.frozen
class Delivery:
    """A signed event as the provider sends it: its type, the headers and the raw body."""

    provider_type: str
    headers: dict[str, str]
    body: bytes


@attrs.frozen
class Naming:
    """Which of a payment's ids a provider's events of one kind carry."""

    payment_id: bool
    """paykit's own id, echoed from the metadata paykit sent."""
    provider_payment_id: bool
    """The provider's id of the payment (the PaymentIntent, the order)."""

    def of(self, payment_id: str, provider_payment_id: str | None) -> tuple[str | None, str | None]:
        """The ``(payment_id, provider_payment_id)`` such an event names for this payment."""
        return (
            payment_id if self.payment_id else None,
            provider_payment_id if self.provider_payment_id else None,
        )


class FakeProvider(Protocol):
    """What the contracts read of any provider's fake."""

    @property
    def requests(self) -> Sequence[Any]:
        """Every request the fake received, in order."""

    @property
    def ledger(self) -> Sequence[Any]:
        """Every movement of money, in order: lines with a ``kind`` and an ``object_id``."""

    def refund(self, refund_id: str) -> dict[str, Any]:
        """A refund as the provider shows it."""


@attrs.define(kw_only=True)
class Shop(ABC):
    """A service selling through one provider's adapter over its fake: the contracts' harness.

    A subclass narrows ``fake`` to the provider's fake, adds the adapter, fills in the class
    variables below with the provider's words, and implements each abstract hook the way the
    provider does it.
    """

    service: PaymentService
    fake: FakeProvider
    events: list[Event] = attrs.field(factory=list)
    """Every host event the service published, in order."""

    provider: ClassVar[str]
    """The name the service knows the provider by (``handle_webhook(provider, ...)``)."""
    modes: ClassVar[Sequence[str]] = ()
    """Ways of verifying a delivery the adapter offers: every inbox test runs with each."""
    method_type: ClassVar[str]
    return_url: ClassVar[str]
    success_token: ClassVar[str]
    """A payment method the provider charges at once."""
    action_token: ClassVar[str]
    """A payment method that waits for the customer (3-D Secure, the payer's approval)."""
    types: ClassVar[Mapping[WebhookEventType, str]]
    """The provider's event type for each kind of event the contracts deliver."""
    forgeries: ClassVar[Sequence[str]]
    """Ways of signing a delivery that must not verify (see :meth:`signed`)."""
    secrets: ClassVar[Sequence[str]]
    """Credentials that must never show up in an answer."""
    now: ClassVar[datetime]
    """The fakes' clock."""
    evidence_window: ClassVar[timedelta]
    """How long after it opens a chargeback's evidence is due."""
    opened_status: ClassVar[str]
    """The provider's word for a chargeback that has just opened."""
    default_reason: ClassVar[str]
    """The reason the fake gives a dispute unless told otherwise."""
    other_reason: ClassVar[str]
    """Another reason in the provider's words."""
    dispute_naming: ClassVar[Naming]
    refund_naming: ClassVar[Naming]
    logger: ClassVar[str]
    """The adapter's logger."""
    ignored_reason: ClassVar[str]
    """The ``raw`` key under which the adapter says why it ignored an event."""

    @classmethod
    @abstractmethod
    def open(cls, mode: str | None = None) -> Self:
        """A fresh fake, adapter and service (verifying deliveries the ``mode`` way)."""

    def __attrs_post_init__(self) -> None:
        self.service.events.subscribe(ALL_EVENTS, self.events.append)

    # -- through the service -------------------------------------------------------------

    def pay(self, token: str, amount: str = "100.00") -> Payment:
        """Create and process a payment of ``token``'s scripted behaviour."""
        method = self.service.add_payment_method("cus_1", type=self.method_type, token=token)
        payment = self.service.create_payment(
            customer_id="cus_1",
            order_id=f"ord_{len(self.service.list_payments(customer_id='cus_1')) + 1}",
            payment_method_id=method.id,
            amount=amount,
            currency="USD",
        )
        return self.service.process_payment(payment.id, return_url=self.return_url)

    def paid(self, amount: str = "100.00") -> Payment:
        """A payment the provider charged at once."""
        payment = self.pay(self.success_token, amount)
        assert payment.status is _P.COMPLETED
        assert payment.provider_payment_id is not None
        return payment

    def waiting(self, amount: str = "100.00") -> Payment:
        """A payment waiting for the customer to act at the provider."""
        payment = self.pay(self.action_token, amount)
        assert payment.status is _P.REQUIRES_ACTION
        assert payment.provider_payment_id is not None
        return payment

    def handle(self, delivery: Delivery) -> WebhookResult:
        """Hand a delivery to the inbox as the provider would."""
        return self.service.handle_webhook(self.provider, delivery.headers, delivery.body)

    def deliver(
        self,
        kind: WebhookEventType | str,
        resource: Mapping[str, Any],
        *,
        forgery: str | None = None,
    ) -> WebhookResult:
        """Sign an event of ``kind`` (or the provider's own type) and hand it to the inbox."""
        event_type = self.types[kind] if isinstance(kind, WebhookEventType) else kind
        return self.handle(self.signed(event_type, resource, forgery=forgery))

    def log_types(self, payment_id: str) -> list[LogType]:
        """The payment's transaction log, by entry type."""
        return [entry.log_type for entry in self.service.get_transaction_log(payment_id)]

    # -- the provider's hooks ------------------------------------------------------------

    @abstractmethod
    def signed(
        self, event_type: str, resource: Mapping[str, Any], *, forgery: str | None = None
    ) -> Delivery:
        """An event of ``event_type`` about ``resource``, signed as the provider signs it.

        ``forgery`` (one of :attr:`forgeries`) signs it so that it must not verify.
        """

    @abstractmethod
    def taken_but_untold(self, waiting: Payment) -> dict[str, Any]:
        """The provider takes the waiting payment's money and paykit does not hear of it.

        Returns the resource that the provider's payment-succeeded event carries.
        """

    @abstractmethod
    def customer_acts(self, waiting: Payment) -> Delivery:
        """The customer does at the provider what the payment waits for; the event saying so."""

    @abstractmethod
    def tamper(self, body: bytes) -> bytes:
        """``body`` with one amount in it changed."""

    def request_count(self) -> int:
        """How many requests the fake has received."""
        return len(self.fake.requests)

    @abstractmethod
    def lookups_since(self, mark: int) -> list[str]:
        """The paths of the requests since ``mark`` that looked up a payment or refund."""

    @abstractmethod
    def charged(self, payment: Payment) -> Money:
        """Everything the provider charged for the payment."""

    @abstractmethod
    def refunded(self, payment: Payment) -> Money:
        """Everything the provider refunded for the payment."""

    @abstractmethod
    def charged_back(self, payment: Payment) -> Money | None:
        """Everything lost disputes took back (``None``: the fake books no chargebacks)."""

    @abstractmethod
    def lose_next_refund_answer(self) -> None:
        """The provider makes the next refund but its answer never reaches paykit."""

    def refunds_at_provider(self) -> list[str]:
        """The provider's ids of every refund it made, in order."""
        return [line.object_id for line in self.fake.ledger if line.kind == "refund"]

    def refund_resource(self, provider_refund_id: str) -> dict[str, Any]:
        """The refund as the provider's refund events carry it."""
        return self.fake.refund(provider_refund_id)

    @abstractmethod
    def echoed_refund_id(self, resource: Mapping[str, Any]) -> str | None:
        """Paykit's refund id as the provider keeps it on the refund."""

    def open_dispute(
        self, provider_payment_id: str, *, amount: Money | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        """The customer disputes the payment (all of it unless ``amount``): a chargeback."""
        facts: dict[str, Any] = {"reason": reason or self.default_reason}
        if amount is not None:
            facts["amount"] = self.disputed_amount(amount)
        return self.dispute(provider_payment_id, **facts)

    @abstractmethod
    def disputed_amount(self, amount: Money) -> object:
        """``amount`` as the fake takes a dispute's amount."""

    @abstractmethod
    def decide_dispute(
        self, provider_payment_id: str, opened: Mapping[str, Any], *, won: bool
    ) -> dict[str, Any]:
        """The dispute ``opened`` decided for the merchant (``won``) or the customer."""

    @abstractmethod
    def dispute_id(self, dispute: Mapping[str, Any]) -> str:
        """The provider's id of a dispute."""

    @abstractmethod
    def unreadable_money(
        self, provider_payment_id: str, provider_refund_id: str
    ) -> list[tuple[str, dict[str, Any], str]]:
        """Refund and dispute events whose money is not money: ``(type, resource, field)``."""

    @abstractmethod
    def completed_before_a_late_failure(self, amount: str) -> tuple[Payment, Delivery]:
        """A completed payment, and an event saying an attempt of it failed, delivered late."""

    # -- straight through the adapter ----------------------------------------------------

    @abstractmethod
    def charge(
        self, amount: str = "25.00", currency: str = "USD", *, refund_fails: bool = False
    ) -> str:
        """Charge :data:`PAYMENT_ID` through the adapter; the provider's payment id."""

    @abstractmethod
    def refund_directly(self, provider_payment_id: str, amount: str, *, refund_id: str) -> str:
        """Refund :data:`PAYMENT_ID` through the adapter as ``refund_id``; the provider's id."""

    @abstractmethod
    def refund_id_sent(self) -> str | None:
        """Paykit's refund id as the last refund request carried it to the provider."""

    @abstractmethod
    def dispute(
        self, provider_payment_id: str, *, dispute_id: str | None = None, **facts: Any
    ) -> dict[str, Any]:
        """A dispute over the payment as ``facts`` describe it (``dispute_id``: a later state)."""

    @abstractmethod
    def parse(
        self, event_type: str, resource: Mapping[str, Any], *, checked: bool = True
    ) -> WebhookEvent:
        """Sign an event about ``resource`` and hand it to the adapter's ``parse_webhook``.

        ``checked`` holds the resource to the provider's published shape first, where the
        harness knows it; a test that breaks the shape on purpose turns it off.
        """


def _case_id(case: object) -> str:
    return str(getattr(case, "name", case))


class ProviderContract:
    """What both contracts share: the provider's harness and its own cases."""

    shop_type: ClassVar[type[Shop]]

    def cases(self) -> Mapping[str, Sequence[object]]:
        """The provider's own cases, by the name of the test argument that takes them."""
        return {}

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Run each parametrized contract test over the provider's own cases."""
        for argument, cases in self.cases().items():
            if argument in metafunc.fixturenames:
                metafunc.parametrize(argument, cases, ids=_case_id)

    @pytest.fixture
    def shop(self, request: pytest.FixtureRequest) -> Shop:
        """A fresh fake, adapter and service, recording every host event."""
        return self.shop_type.open(getattr(request, "param", None))
