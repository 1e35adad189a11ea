"""Every read and write is scoped to the caller: another customer's record is a 404.

The checks load the record and answer ``NotFound`` -- never 403 -- when the caller may not
see it, so a customer cannot learn that someone else's id exists. Where the answer cannot
depend on the owner (staff, who see everything) nothing is read: the service's own read in
its unit of work answers ``NotFound`` for a missing record, and each read skipped is one SQL
statement fewer per request.
"""

from __future__ import annotations

from typing import Final

from paykit.api._auth import Principal, RefundPolicy, staff_only_refunds
from paykit.api._problems import ApiProblem
from paykit.domain.payment import Payment
from paykit.domain.payment_method import PaymentMethod
from paykit.domain.refund import Refund
from paykit.errors import NotFound, ValidationError
from paykit.service import PaymentService

__all__ = [
    "METHOD_KIND",
    "acting_customer",
    "require_refund_allowed",
    "require_staff",
    "require_staff_for_refund",
    "visible_method",
    "visible_payment",
    "visible_refund",
]

METHOD_KIND: Final = "payment method"
"""The storages' own word in ``NotFound`` for a missing method: another customer's method
is refused with the very same words, or the two answers would tell each other apart."""


def visible_payment(service: PaymentService, principal: Principal, payment_id: str) -> Payment:
    """The payment, if the caller may see it; else ``NotFound`` as if it did not exist."""
    payment = service.get_payment(payment_id)
    if not principal.may_see(payment.customer_id):
        raise NotFound("payment", payment_id)
    return payment


def visible_method(
    service: PaymentService, principal: Principal, payment_method_id: str
) -> PaymentMethod:
    """The payment method, if the caller may see it; else ``NotFound``."""
    method = service.get_payment_method(payment_method_id)
    if not principal.may_see(method.customer_id):
        raise NotFound(METHOD_KIND, payment_method_id)
    return method


def visible_refund(
    service: PaymentService, principal: Principal, refund_id: str
) -> tuple[Refund, Payment]:
    """The refund and its payment, if the caller may see them; else ``NotFound``."""
    refund = service.get_refund(refund_id)
    payment = service.get_payment(refund.payment_id)
    if not principal.may_see(payment.customer_id):
        raise NotFound("refund", refund_id)
    return refund, payment


def acting_customer(principal: Principal, requested: str | None) -> str:
    """The customer a write is for: the caller's own, or (staff only) the one named."""
    if requested is None or requested == principal.customer_id:
        if principal.customer_id is None:
            msg = "staff must say which customer this is for"
            raise ValidationError(msg, field="customer_id")
        return principal.customer_id
    if not principal.is_staff:
        msg = "only staff may act for another customer; leave customer_id out"
        raise ValidationError(msg, field="customer_id")
    return requested


def require_staff(principal: Principal, what: str) -> None:
    """Refuse a staff-only action (the caller can already see the record: 403, not 404)."""
    if not principal.is_staff:
        raise ApiProblem(403, "forbidden", f"only staff may {what}")


def require_refund_allowed(
    service: PaymentService, principal: Principal, payment_id: str, policy: RefundPolicy
) -> None:
    """Refuse a refund the caller may not ask for: 404 if they cannot see the payment, else 403.

    Staff under the default policy may refund any payment whoever owns it, so nothing is read
    for them: the service's own read of the payment answers ``NotFound`` for a missing one
    (one SQL statement fewer per request, bench/api.py). A customer, or a host's policy that
    may depend on whose payment it is, needs the payment read first.
    """
    if principal.is_staff and policy is staff_only_refunds:
        return
    payment = visible_payment(service, principal, payment_id)
    if not policy(principal, payment.customer_id):
        raise ApiProblem(403, "forbidden", "you may not ask for refunds of this payment")


def require_staff_for_refund(
    service: PaymentService, principal: Principal, refund_id: str, what: str
) -> None:
    """Refuse a staff-only refund action: a customer gets 404 for another's refund, 403 for theirs.

    Staff may see every refund, so nothing is read for them (the service answers ``NotFound``
    for a missing one); a customer's refund is read to tell the 404 from the 403.
    """
    if principal.is_staff:
        return
    visible_refund(service, principal, refund_id)
    require_staff(principal, what)
