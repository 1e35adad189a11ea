"""Glue between web frameworks and :meth:`PaymentService.handle_webhook`, one module each.

* ``paykit.contrib.starlette``: Starlette and FastAPI (``webhook_endpoint``,
  ``add_webhook_route``);
* ``paykit.contrib.flask``: Flask (``webhook_view``, ``webhook_blueprint``);
* ``paykit.contrib.django``: Django (``webhook_view``).

Each module imports its framework and nothing else does, so ``import paykit`` and
``import paykit.contrib`` work without any framework installed. Every glue does the same
four things: answer 405 to anything but POST, take the raw body bytes (the signature covers
them), hand the headers over as a :class:`RequestHeaders` (names matched case-insensitively,
whatever case the framework or a proxy gave them) and answer with the
:class:`~paykit.WebhookResult`'s status and body as plain text.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Final

__all__ = ["ALLOWED_METHODS", "NOT_ALLOWED_BODY", "RequestHeaders"]

ALLOWED_METHODS: Final = ("POST",)
"""The only method a webhook route takes."""

NOT_ALLOWED_BODY: Final = "webhooks are delivered with POST"
"""The body of the 405 answer."""


class RequestHeaders(Mapping[str, str]):
    """A request's headers with case-insensitive names, as a read-only mapping.

    Names are kept lowercased (``headers["Stripe-Signature"]`` and
    ``headers["stripe-signature"]`` are the same entry). A header sent several times keeps
    every value, joined with ``", "`` as HTTP combines repeated fields (RFC 9110, 5.3), so a
    repeated signature header reaches the gateway as one malformed value and is rejected,
    never silently reduced to its first or last copy.
    """

    __slots__ = ("_values",)

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        values: dict[str, list[str]] = {}
        for name, value in items:
            values.setdefault(name.lower(), []).append(value)
        self._values = {name: ", ".join(found) for name, found in values.items()}

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"RequestHeaders({sorted(self._values)})"  # names only: values may be secrets
