"""Webhooks on Django: a view for :meth:`PaymentService.handle_webhook`.

::

    # urls.py
    from django.urls import path
    from paykit.contrib.django import webhook_view

    urlpatterns = [
        path("webhooks/<str:provider>/", webhook_view(service), name="paykit-webhook"),
    ]

The view is exempt from CSRF checks (providers cannot send Django's token; the signature is
what authenticates them), takes POST only (405 otherwise), reads ``request.body`` (the exact
bytes the signature covers; nothing may read ``request.POST`` before it) and answers with the
result's status and body as plain text. It is a synchronous view: under ASGI, Django runs it
in a worker thread. Needs ``django``: ``pip install 'paykit[django]'``.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.views.decorators.csrf import csrf_exempt

from paykit.contrib import ALLOWED_METHODS, NOT_ALLOWED_BODY, RequestHeaders
from paykit.service import PaymentService

__all__ = ["webhook_view"]

_TEXT = "text/plain; charset=utf-8"

View = Callable[..., HttpResponse]


def webhook_view(service: PaymentService, provider: str | None = None) -> View:
    """A CSRF-exempt, POST-only view that hands each request to ``service.handle_webhook``.

    With ``provider`` (a gateway's name, ``"stripe"``) every request is for that gateway;
    without it the URL pattern's ``provider`` keyword (``<str:provider>``) names it.
    """

    @csrf_exempt
    def paykit_webhook(request: HttpRequest, **values: str) -> HttpResponse:
        if request.method not in ALLOWED_METHODS:
            return HttpResponseNotAllowed(
                list(ALLOWED_METHODS), NOT_ALLOWED_BODY, content_type=_TEXT
            )
        name = provider if provider is not None else values.get("provider")
        if not name:
            return HttpResponse("the URL names no provider", status=404, content_type=_TEXT)
        headers = RequestHeaders(request.headers.items())
        result = service.handle_webhook(name, headers, request.body)
        return HttpResponse(result.body, status=result.status_code, content_type=_TEXT)

    return paykit_webhook
