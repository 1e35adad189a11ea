"""PaymentService is composed of parts; its flat names are those parts' methods."""

from __future__ import annotations

import pytest

from paykit import InMemoryStorage, PaymentService, SandboxGateway
from paykit.service import PaymentMethods, Payments, Reconciler, Refunds, Webhooks
from paykit.service._rules.provider_keys import Operation, provider_key

FLAT_NAMES = {
    "add_payment_method": ("payment_methods", "add"),
    "list_payment_methods": ("payment_methods", "list_for_customer"),
    "create_payment": ("payments", "create"),
    "process_payment": ("payments", "process"),
    "list_payments": ("payments", "find"),
    "get_transaction_log": ("payments", "transaction_log"),
    "create_refund": ("refunds", "create"),
    "process_refund": ("refunds", "process"),
    "handle_webhook": ("webhooks", "handle"),
    "reconcile": ("reconciler", "sweep"),
}


@pytest.fixture
def service() -> PaymentService:
    """A service over memory and the sandbox."""
    return PaymentService(InMemoryStorage(), {"credit_card": SandboxGateway()})


def test_the_parts_share_one_context(service: PaymentService) -> None:
    """Every part works on the service's one context: same storage, gateways and events."""
    parts: list[PaymentMethods | Payments | Refunds | Webhooks | Reconciler] = [
        service.payment_methods,
        service.payments,
        service.refunds,
        service.webhooks,
        service.reconciler,
    ]
    kinds = [PaymentMethods, Payments, Refunds, Webhooks, Reconciler]

    assert [type(part) for part in parts] == kinds
    assert {id(part._context) for part in parts} == {id(service.context)}
    assert service.storage is service.context.storage
    assert service.events is service.context.events


@pytest.mark.parametrize(("flat", "part_and_method"), FLAT_NAMES.items(), ids=list(FLAT_NAMES))
def test_a_flat_name_is_the_parts_method(
    service: PaymentService, flat: str, part_and_method: tuple[str, str]
) -> None:
    """``service.create_payment`` is ``service.payments.create``, bound to the same part."""
    part_name, method_name = part_and_method
    part = getattr(service, part_name)

    delegate = getattr(service, flat)

    assert delegate.__self__ is part
    assert delegate.__func__ is getattr(type(part), method_name)


def test_the_parts_do_not_inherit_from_each_other() -> None:
    """Each part is a plain class: no part is built by inheriting another part."""
    parts = (PaymentMethods, Payments, Refunds, Webhooks, Reconciler)

    for part in parts:
        assert part.__mro__ == (part, object)


@pytest.mark.parametrize(
    ("operation", "key"),
    [
        (Operation.CHARGE, "paykit:pay_1:charge"),
        (Operation.CAPTURE, "paykit:pay_1:capture"),
        (Operation.VOID, "paykit:pay_1:void"),
        (Operation.REFUND, "paykit:pay_1:refund"),
    ],
)
def test_provider_keys_are_built_from_the_id_and_the_operation(
    operation: Operation, key: str
) -> None:
    """A call that moves money has one fixed key per record and operation."""
    assert provider_key("pay_1", operation) == key


@pytest.mark.parametrize("operation", [Operation.RECONCILE, Operation.WEBHOOK, Operation.RETRIEVE])
def test_answers_that_send_nothing_have_no_key(operation: Operation) -> None:
    """Reconciliation and webhooks send no request, so asking for their key is a bug."""
    with pytest.raises(ValueError, match="no idempotency key"):
        provider_key("pay_1", operation)
