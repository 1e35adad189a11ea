"""PaymentService: saving, listing, changing and removing payment methods."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from paykit import (
    GatewayConfigurationError,
    InMemoryStorage,
    NotFound,
    PaymentMethod,
    PaymentMethodInactiveError,
    PaymentMethodType,
    PaymentService,
    SandboxGateway,
    SandboxToken,
    UnsupportedPaymentMethodError,
    ValidationError,
)
from paykit.gateways import PaymentMethodDetails

MakeCard = Callable[..., PaymentMethod]


def _defaults(service: PaymentService, customer_id: str) -> list[str]:
    """Ids of the customer's methods that are marked default (active or not)."""
    methods = service.list_payment_methods(customer_id, include_inactive=True)
    return [m.id for m in methods if m.is_default]


def test_add_keeps_display_details_and_token(service: PaymentService) -> None:
    """A saved card keeps its token, brand, last 4 and expiry, and reads back the same."""
    method = service.add_payment_method(
        "cus_1",
        type="credit_card",
        token=SandboxToken.SUCCESS,
        brand="visa",
        last4="4242",
        exp_month=12,
        exp_year=2030,
        metadata={"nickname": "work card"},
    )

    stored = service.get_payment_method(method.id)
    assert stored.customer_id == "cus_1"
    assert stored.type is PaymentMethodType.CREDIT_CARD
    assert stored.provider_payment_method_id == "tok_visa"
    assert (stored.brand, stored.last4, stored.exp_month, stored.exp_year) == (
        "visa",
        "4242",
        12,
        2030,
    )
    assert stored.metadata == {"nickname": "work card"}
    assert stored.display_name == "visa •••• 4242"
    assert stored.is_active
    assert not stored.is_default


def test_add_defaults_provider_to_the_routed_gateway(storage: InMemoryStorage) -> None:
    """Without ``provider`` the method carries the name of the gateway routed for its type."""
    cards = SandboxGateway(name="cards-sandbox")
    wallets = SandboxGateway(name="wallet-sandbox")
    service = PaymentService(storage, {"credit_card": cards, "digital_wallet": wallets})

    card = service.add_payment_method("cus_1", type="credit_card", token=SandboxToken.SUCCESS)
    wallet = service.add_payment_method("cus_1", type="digital_wallet", token=SandboxToken.SUCCESS)

    assert service.get_payment_method(card.id).provider == "cards-sandbox"
    assert service.get_payment_method(wallet.id).provider == "wallet-sandbox"


def test_add_with_explicit_provider_keeps_it(service: PaymentService) -> None:
    """An explicit ``provider`` is stored as given instead of the routed gateway's name."""
    method = service.add_payment_method(
        "cus_1", type="credit_card", token=SandboxToken.SUCCESS, provider="stripe"
    )

    assert service.get_payment_method(method.id).provider == "stripe"


def test_list_shows_only_the_customers_active_methods(
    service: PaymentService, make_card: MakeCard
) -> None:
    """Listing returns the customer's own methods oldest first, hiding inactive ones."""
    first = make_card("cus_1")
    second = make_card("cus_1")
    make_card("cus_2")
    service.deactivate_payment_method(first.id)

    assert [m.id for m in service.list_payment_methods("cus_1")] == [second.id]
    assert [m.id for m in service.list_payment_methods("cus_1", include_inactive=True)] == [
        first.id,
        second.id,
    ]
    assert service.list_payment_methods("cus_nobody") == []


def test_update_changes_expiry_and_replaces_metadata(service: PaymentService) -> None:
    """Updating sets the new expiry and replaces (not merges) the metadata."""
    method = service.add_payment_method(
        "cus_1",
        type="credit_card",
        token=SandboxToken.SUCCESS,
        exp_month=1,
        exp_year=2026,
        metadata={"old": "x"},
    )

    service.update_payment_method(method.id, exp_month=11, exp_year=2031, metadata={"new": "y"})

    stored = service.get_payment_method(method.id)
    assert (stored.exp_month, stored.exp_year) == (11, 2031)
    assert stored.metadata == {"new": "y"}


def test_update_with_only_metadata_keeps_expiry(service: PaymentService) -> None:
    """An update that passes no expiry leaves the stored expiry untouched."""
    method = service.add_payment_method(
        "cus_1", type="credit_card", token=SandboxToken.SUCCESS, exp_month=5, exp_year=2029
    )

    service.update_payment_method(method.id, metadata={"k": "v"})

    stored = service.get_payment_method(method.id)
    assert (stored.exp_month, stored.exp_year) == (5, 2029)
    assert stored.metadata == {"k": "v"}


def test_update_with_bad_expiry_changes_nothing(
    service: PaymentService, storage: InMemoryStorage
) -> None:
    """An invalid month is refused with the field named and the stored method is unchanged."""
    method = service.add_payment_method(
        "cus_1", type="credit_card", token=SandboxToken.SUCCESS, exp_month=5, exp_year=2029
    )
    commits = storage.commits

    with pytest.raises(ValidationError) as caught:
        service.update_payment_method(method.id, exp_month=13)

    assert caught.value.field == "exp_month"
    assert service.get_payment_method(method.id) == method
    assert storage.commits == commits


def test_add_as_default_unsets_the_previous_default(service: PaymentService) -> None:
    """Adding a method with ``is_default`` takes the default away from the previous one."""
    first = service.add_payment_method(
        "cus_1", type="credit_card", token=SandboxToken.SUCCESS, is_default=True
    )
    second = service.add_payment_method(
        "cus_1", type="credit_card", token=SandboxToken.SUCCESS, is_default=True
    )

    assert _defaults(service, "cus_1") == [second.id]
    assert not service.get_payment_method(first.id).is_default


def test_set_default_moves_the_default(service: PaymentService, make_card: MakeCard) -> None:
    """Setting a default leaves exactly one default per customer and spares other customers."""
    first = make_card("cus_1")
    second = make_card("cus_1")
    other = make_card("cus_2")
    service.set_default_payment_method(other.id)

    service.set_default_payment_method(first.id)
    assert _defaults(service, "cus_1") == [first.id]

    returned = service.set_default_payment_method(second.id)
    assert returned.is_default
    assert _defaults(service, "cus_1") == [second.id]
    assert _defaults(service, "cus_2") == [other.id]


def test_set_default_twice_is_harmless(service: PaymentService, make_card: MakeCard) -> None:
    """Making the current default the default again keeps exactly that one default."""
    method = make_card("cus_1")
    service.set_default_payment_method(method.id)

    service.set_default_payment_method(method.id)

    assert _defaults(service, "cus_1") == [method.id]


def test_set_default_of_inactive_method_is_refused(
    service: PaymentService, make_card: MakeCard
) -> None:
    """An inactive method cannot become the default, and the current default stays."""
    active = make_card("cus_1")
    inactive = make_card("cus_1")
    service.set_default_payment_method(active.id)
    service.deactivate_payment_method(inactive.id)

    with pytest.raises(PaymentMethodInactiveError):
        service.set_default_payment_method(inactive.id)

    assert _defaults(service, "cus_1") == [active.id]


def test_deactivate_removes_default_and_blocks_payments(
    service: PaymentService, make_card: MakeCard, storage: InMemoryStorage
) -> None:
    """A deactivated method is no longer default and cannot be used for a new payment."""
    method = make_card("cus_1")
    service.set_default_payment_method(method.id)

    returned = service.deactivate_payment_method(method.id)

    assert not returned.is_active
    stored = service.get_payment_method(method.id)
    assert not stored.is_active
    assert not stored.is_default
    assert _defaults(service, "cus_1") == []
    with pytest.raises(PaymentMethodInactiveError):
        service.create_payment(
            customer_id="cus_1",
            order_id="ord_1",
            payment_method_id=method.id,
            amount="10.00",
            currency="USD",
        )
    assert storage.payments == {}


def test_remove_deletes_the_method(service: PaymentService, make_card: MakeCard) -> None:
    """After removal the method cannot be read, listed or removed again."""
    kept = make_card("cus_1")
    removed = make_card("cus_1")

    service.remove_payment_method(removed.id)

    with pytest.raises(NotFound) as caught:
        service.get_payment_method(removed.id)
    assert caught.value.record_id == removed.id
    assert [m.id for m in service.list_payment_methods("cus_1", include_inactive=True)] == [kept.id]
    with pytest.raises(NotFound):
        service.remove_payment_method(removed.id)


def test_remove_keeps_payments_made_with_the_method(
    service: PaymentService, make_card: MakeCard
) -> None:
    """Payments keep their own record (and the method id) after the method is removed."""
    method = make_card("cus_1")
    payment = service.create_payment(
        customer_id="cus_1",
        order_id="ord_1",
        payment_method_id=method.id,
        amount="10.00",
        currency="USD",
    )

    service.remove_payment_method(method.id)

    assert service.get_payment(payment.id).payment_method_id == method.id


def test_unknown_method_type_is_a_validation_error(
    service: PaymentService, storage: InMemoryStorage
) -> None:
    """An unknown type names the ``type`` field and stores nothing."""
    with pytest.raises(ValidationError) as caught:
        service.add_payment_method("cus_1", type="cheque", token=SandboxToken.SUCCESS)

    assert caught.value.field == "type"
    assert storage.methods == {}


def test_bank_transfer_without_gateway_is_unsupported(
    service: PaymentService, storage: InMemoryStorage
) -> None:
    """A type with no gateway configured (bank transfer here) is refused and stores nothing."""
    with pytest.raises(UnsupportedPaymentMethodError) as caught:
        service.add_payment_method("cus_1", type="bank_transfer", token=SandboxToken.SUCCESS)

    assert caught.value.code == "unsupported_payment_method"
    assert "bank_transfer" in str(caught.value)
    assert storage.methods == {}


def test_get_unknown_method_is_not_found(service: PaymentService) -> None:
    """Reading a method that never existed raises ``NotFound`` naming the id."""
    with pytest.raises(NotFound) as caught:
        service.get_payment_method("pm_missing")

    assert caught.value.kind == "payment method"
    assert caught.value.record_id == "pm_missing"


def test_token_is_not_in_the_repr(make_card: MakeCard) -> None:
    """The provider token stays out of the method's repr (it may end up in logs)."""
    method = make_card("cus_1", SandboxToken.THREE_D_SECURE)

    assert SandboxToken.THREE_D_SECURE not in repr(method)


class _SavingSandbox(SandboxGateway):
    """A sandbox that also manages saved methods, like Stripe's PaymentMethods."""

    def __init__(self, *, fail_detach: bool = False) -> None:
        super().__init__()
        self.attached: dict[str, str | None] = {}
        self.fail_detach = fail_detach

    def attach_payment_method(
        self, token: str, *, provider_customer_id: str | None
    ) -> PaymentMethodDetails:
        self.attached[token] = provider_customer_id
        return PaymentMethodDetails(brand="mastercard", last4="4444", exp_month=3, exp_year=2031)

    def detach_payment_method(self, token: str) -> None:
        if self.fail_detach:
            raise GatewayConfigurationError("detach refused")
        del self.attached[token]


def test_a_gateway_that_manages_methods_fills_in_display_details() -> None:
    """With a method-managing gateway, the token is attached and its details recorded."""
    gateway = _SavingSandbox()
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": gateway})
    method = service.add_payment_method(
        "cus_1", type="credit_card", token="tok_visa", provider_customer_id="cus_remote"
    )
    assert gateway.attached == {"tok_visa": "cus_remote"}
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == (
        "mastercard",
        "4444",
        3,
        2031,
    )


def test_details_given_by_the_caller_win_over_the_provider() -> None:
    """Display details passed in are kept; only the missing ones come from the provider."""
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": _SavingSandbox()})
    method = service.add_payment_method("cus_1", type="credit_card", token="tok_visa", brand="visa")
    assert method.brand == "visa"
    assert method.last4 == "4444"


def test_removing_a_method_detaches_it_first() -> None:
    """Removing a saved method detaches it at the provider; a failed detach deletes nothing."""
    gateway = _SavingSandbox()
    service = PaymentService(InMemoryStorage(), gateways={"credit_card": gateway})
    method = service.add_payment_method("cus_1", type="credit_card", token="tok_visa")
    gateway.fail_detach = True
    with pytest.raises(GatewayConfigurationError):
        service.remove_payment_method(method.id)
    assert service.get_payment_method(method.id).id == method.id
    gateway.fail_detach = False
    service.remove_payment_method(method.id)
    assert gateway.attached == {}
    with pytest.raises(NotFound):
        service.get_payment_method(method.id)
