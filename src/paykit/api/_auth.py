"""Who is calling: the host's authenticator turns a request into a :class:`Principal`.

paykit has no users of its own. The host passes a callable (sync or async) that reads the
request -- a bearer token, a session cookie, a mutual-TLS header -- and returns a
``Principal`` or ``None`` to refuse (answered 401). Building the API without one is an error;
only :func:`insecure_demo_authenticator`, for ``paykit serve --demo`` on loopback, lets every
caller in, as one demo customer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import attrs
from starlette.requests import Request

__all__ = [
    "DEMO_CUSTOMER",
    "Authenticator",
    "Principal",
    "RefundPolicy",
    "insecure_demo_authenticator",
    "staff_only_refunds",
]


@attrs.frozen(kw_only=True)
class Principal:
    """The authenticated caller: a customer (``customer_id``), staff, or both.

    A customer sees and changes only their own payment methods, payments and refunds; staff
    see everything and process refunds. ``name`` says who did it in the audit trail
    (``processed_by``) and scopes staff's idempotency keys.
    """

    customer_id: str | None = None
    is_staff: bool = False
    name: str = ""

    def __attrs_post_init__(self) -> None:
        if self.customer_id is None and not self.is_staff:
            msg = "a principal is a customer (customer_id) or staff (is_staff=True)"
            raise ValueError(msg)

    @property
    def owner(self) -> str:
        """Whose idempotency keys these are: keys never collide across callers."""
        if self.is_staff:
            return f"staff:{self.name or '-'}"
        return f"customer:{self.customer_id}"

    def may_see(self, customer_id: str) -> bool:
        """Whether this caller may see a record of ``customer_id``."""
        return self.is_staff or self.customer_id == customer_id


Authenticator = Callable[[Request], "Principal | Awaitable[Principal | None] | None"]
"""The host's hook: a request in, a :class:`Principal` (or ``None`` to refuse) out."""

RefundPolicy = Callable[[Principal, str], bool]
"""May ``principal`` ask for a refund of a payment of customer ``str``? (The default:
staff only, as the original app's ``processed_by`` suggests.)"""

DEMO_CUSTOMER: Final = "cus_demo"
"""The customer every caller is under :func:`insecure_demo_authenticator`."""


def staff_only_refunds(principal: Principal, customer_id: str) -> bool:
    """The default refund policy: only staff create refunds."""
    del customer_id
    return principal.is_staff


def insecure_demo_authenticator(request: Request) -> Principal:
    """Let everyone in as the demo customer, with staff rights. For ``paykit serve --demo``.

    Never use it where anyone but you can reach the server.
    """
    del request
    return Principal(customer_id=DEMO_CUSTOMER, is_staff=True, name="demo")
