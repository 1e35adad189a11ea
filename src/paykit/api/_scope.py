"""Every read and write is scoped to the caller: another customer's record is a 404.

The checks load the record and answer ``NotFound`` -- never 403 -- when the caller may not
see it, so a customer cannot learn that someone else's id exists.
"""

from __future__ import annotations

from paykit.api._auth import Principal
from paykit.api._problems import ApiProblem
from paykit.domain.payment import Payment
from paykit.domain.payment_method import PaymentMethod
from paykit.domain.refund import Refund
from paykit.errors import NotFound, ValidationError
from paykit.service import PaymentService

__all__ = [
    "acting_customer",
    "require_staff",
    "visible_method",
    "visible_payment",
    "visible_refund",
]


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
        raise NotFound("payment_method", payment_method_id)
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
