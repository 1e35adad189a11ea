"""Webhooks on Flask: a view and a blueprint for :meth:`PaymentService.handle_webhook`.

::

    from flask import Flask
    from paykit.contrib.flask import webhook_blueprint

    app = Flask(__name__)
    app.register_blueprint(webhook_blueprint(service))  # POST /webhooks/<provider>

The view reads the raw body with ``request.get_data()`` (never the parsed form: the signature
covers the exact bytes) and answers with the result's status and body as plain text. Flask
runs views in its worker threads, so the synchronous service needs nothing more. Needs
``flask``: ``pip install 'paykit[flask]'``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, request

from paykit.contrib import ALLOWED_METHODS, NOT_ALLOWED_BODY, RequestHeaders
from paykit.service import PaymentService

__all__ = ["webhook_blueprint", "webhook_view"]

_TEXT = "text/plain; charset=utf-8"

View = Callable[..., Response]


def webhook_view(service: PaymentService, provider: str | None = None) -> View:
    """A view function that hands each POST to ``service.handle_webhook``.

    With ``provider`` (a gateway's name, ``"stripe"``) every request is for that gateway;
    without it the rule's ``<provider>`` variable names it. Anything but POST gets 405, even
    if the view was registered for more methods. Every view it returns is named
    ``paykit_webhook``: registering several on one app needs an ``endpoint=`` for each.
    """

    def paykit_webhook(**values: str) -> Response:
        if request.method not in ALLOWED_METHODS:
            return Response(
                NOT_ALLOWED_BODY,
                status=405,
                headers={"Allow": ", ".join(ALLOWED_METHODS)},
                content_type=_TEXT,
            )
        name = provider if provider is not None else values.get("provider")
        if not name:
            return Response("the URL names no provider", status=404, content_type=_TEXT)
        body = request.get_data(cache=True, as_text=False, parse_form_data=False)
        headers = RequestHeaders(request.headers.items())
        result = service.handle_webhook(name, headers, body)
        return Response(result.body, status=result.status_code, content_type=_TEXT)

    return paykit_webhook


def webhook_blueprint(
    service: PaymentService,
    *,
    url_prefix: str = "/webhooks",
    provider: str | None = None,
    name: str = "paykit_webhooks",
) -> Blueprint:
    """A blueprint with one POST-only rule: ``<url_prefix>/<provider>``.

    With ``provider`` the rule is ``url_prefix`` itself, for that gateway only. Register it
    with ``app.register_blueprint(...)``; give each blueprint its own ``name`` if you register
    several. Flask answers 405 to other methods, OPTIONS included (webhooks are not called
    from browsers, so there is nothing to pre-flight).
    """
    blueprint = Blueprint(name, __name__, url_prefix=url_prefix)
    rule = "/<provider>" if provider is None else ""
    blueprint.add_url_rule(
        rule,
        endpoint="webhook",
        view_func=webhook_view(service, provider),
        methods=list(ALLOWED_METHODS),
        provide_automatic_options=False,
    )
    return blueprint
