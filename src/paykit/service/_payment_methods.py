"""Saved payment methods: add, list, update, set default, deactivate, remove."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paykit.domain.metadata import check_metadata
from paykit.domain.payment_method import PaymentMethod, PaymentMethodType
from paykit.errors import (
    PaymentMethodInactiveError,
)
from paykit.gateways.base import (
    Gateway,
    PaymentMethodGateway,
)
from paykit.gateways.registry import parse_method_type
from paykit.service._context import (
    ServiceContext,
)
from paykit.service._rules.transaction import Transaction
from paykit.service._rules.validation import (
    check_expiry,
    check_last4,
    checked_id,
    checked_text,
)

__all__ = ["PaymentMethods"]


class PaymentMethods:
    """A customer's saved payment methods (``service.payment_methods``)."""

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def add(  # noqa: PLR0913 - mirrors the record's fields
        self,
        customer_id: str,
        *,
        type: PaymentMethodType | str,  # noqa: A002 - the domain's own word
        token: str,
        provider: str | None = None,
        brand: str | None = None,
        last4: str | None = None,
        exp_month: int | None = None,
        exp_year: int | None = None,
        is_default: bool = False,
        metadata: Mapping[str, Any] | None = None,
        provider_customer_id: str | None = None,
    ) -> PaymentMethod:
        """Save a provider token as a payment method of ``customer_id``.

        ``provider`` defaults to the gateway configured for ``type``. When that gateway can
        manage saved methods (:class:`~paykit.gateways.PaymentMethodGateway`), the token is
        attached to ``provider_customer_id`` at the provider and the display details the
        caller left out (brand, last 4, expiry) are read from it -- before anything is stored.
        With ``is_default`` the customer's previous default stops being the default, in the
        same commit.
        """
        customer_id = checked_text(customer_id, "customer_id", max_length=255)
        method_type = parse_method_type(type)
        token = checked_text(token, "token", max_length=255)
        gateway: Gateway | None
        card_country = card_fingerprint = wallet = None
        if provider is None:
            gateway = self._context.gateways.for_method_type(method_type)
            provider = gateway.name
        else:
            provider = checked_text(provider, "provider", max_length=64)
            gateway = self._context.gateways.find(provider)
        extra = check_metadata(metadata)
        manager = _method_manager(gateway)
        if manager is not None:
            details = manager.attach_payment_method(
                token, provider_customer_id=provider_customer_id
            )
            brand = brand or details.brand
            last4 = last4 or details.last4
            exp_month = exp_month or details.exp_month
            exp_year = exp_year or details.exp_year
            card_country, card_fingerprint, wallet = (
                details.country,
                details.fingerprint,
                details.wallet,
            )
        if brand is not None:
            brand = checked_text(brand, "brand", max_length=32)
        check_last4(last4)
        check_expiry(exp_month, exp_year)

        def work(tx: Transaction) -> PaymentMethod:
            method = PaymentMethod(
                id=tx.new_id("pm"),
                customer_id=customer_id,
                type=method_type,
                provider=provider,
                provider_payment_method_id=token,
                brand=brand,
                last4=last4,
                exp_month=exp_month,
                exp_year=exp_year,
                card_country=card_country,
                card_fingerprint=card_fingerprint,
                wallet=wallet,
                metadata=extra,
                created_at=tx.now,
                updated_at=tx.now,
            )
            tx.uow.payment_methods.add(method)
            if is_default:
                self._make_default(tx, method)
            return method

        return self._context.transact(work)

    def get(self, payment_method_id: str) -> PaymentMethod:
        """Return one payment method (``NotFound`` if there is none)."""
        payment_method_id = checked_id(payment_method_id, "payment_method_id")
        return self._context.read(lambda tx: tx.uow.payment_methods.get(payment_method_id))

    def list_for_customer(
        self, customer_id: str, *, include_inactive: bool = False
    ) -> list[PaymentMethod]:
        """The customer's payment methods, oldest first; active ones only unless asked."""
        customer_id = checked_id(customer_id, "customer_id")
        methods = self._context.read(
            lambda tx: tx.uow.payment_methods.list_for_customer(customer_id)
        )
        return [m for m in methods if include_inactive or m.is_active]

    def update(
        self,
        payment_method_id: str,
        *,
        exp_month: int | None = None,
        exp_year: int | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> PaymentMethod:
        """Change the expiry or replace the metadata of a payment method."""
        payment_method_id = checked_id(payment_method_id, "payment_method_id")
        extra = None if metadata is None else check_metadata(metadata)

        def work(tx: Transaction) -> PaymentMethod:
            method = tx.uow.payment_methods.get(payment_method_id)
            month = method.exp_month if exp_month is None else exp_month
            year = method.exp_year if exp_year is None else exp_year
            check_expiry(month, year)
            method.exp_month, method.exp_year = month, year
            if extra is not None:
                method.metadata = extra
            method.updated_at = tx.now
            tx.uow.payment_methods.update(method)
            return method

        return self._context.transact(work)

    def set_default(self, payment_method_id: str) -> PaymentMethod:
        """Make the method its customer's default (and the previous default not)."""
        payment_method_id = checked_id(payment_method_id, "payment_method_id")

        def work(tx: Transaction) -> PaymentMethod:
            method = tx.uow.payment_methods.get(payment_method_id)
            if not method.is_active:
                msg = f"payment method {method.id} is inactive and cannot be the default"
                raise PaymentMethodInactiveError(msg)
            self._make_default(tx, method)
            return method

        return self._context.transact(work)

    def deactivate(self, payment_method_id: str) -> PaymentMethod:
        """Stop a method from being charged again; it also stops being the default."""
        payment_method_id = checked_id(payment_method_id, "payment_method_id")

        def work(tx: Transaction) -> PaymentMethod:
            method = tx.uow.payment_methods.get(payment_method_id)
            method.is_active = False
            method.is_default = False
            method.updated_at = tx.now
            tx.uow.payment_methods.update(method)
            return method

        return self._context.transact(work)

    def remove(self, payment_method_id: str) -> None:
        """Delete a payment method; payments made with it keep their own records.

        A gateway that manages saved methods is asked to detach it first; if that fails,
        nothing is deleted.
        """
        method = self.get(payment_method_id)
        manager = _method_manager(self._context.gateways.find(method.provider))
        if manager is not None:
            manager.detach_payment_method(method.provider_payment_method_id)

        def work(tx: Transaction) -> None:
            tx.uow.payment_methods.remove(tx.uow.payment_methods.get(payment_method_id))

        self._context.transact(work)

    @staticmethod
    def _make_default(tx: Transaction, method: PaymentMethod) -> None:
        for other in tx.uow.payment_methods.list_for_customer(method.customer_id):
            if other.is_default and other.id != method.id:
                other.is_default = False
                other.updated_at = tx.now
                tx.uow.payment_methods.update(other)
        method.is_default = True
        method.updated_at = tx.now
        tx.uow.payment_methods.update(method)


def _method_manager(gateway: object) -> PaymentMethodGateway | None:
    """The gateway as a manager of saved methods, if it is one (an optional capability)."""
    return gateway if isinstance(gateway, PaymentMethodGateway) else None
