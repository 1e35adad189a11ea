"""``PayPalGateway``: paykit's Gateway and WebhookGateway over PayPal's Orders v2 and Payments v2.

Every operation is a flow (see ``_http``): a generator that builds its requests -- amounts
checked against PayPal's currency rules *before* anything is sent -- yields them, and maps
the answers. :meth:`PayPalGateway.charge` runs a flow with blocking ``httpx`` calls,
:meth:`PayPalGateway.charge_async` runs the very same flow asynchronously.

How paykit's flow maps onto PayPal's:

==========================  ======================================================================
paykit                      PayPal
==========================  ======================================================================
``charge``                  ``POST /v2/checkout/orders`` (intent ``CAPTURE``, or ``AUTHORIZE``
                            for ``capture=False``). A checkout token answers ``requires_action``
                            with the approval link; a vault id is paid at once.
``retrieve_payment``        ``GET /v2/checkout/orders/{id}``. **An APPROVED order is completed
                            here**: captured (or authorized), with a ``PayPal-Request-Id`` derived
                            from the lookup's idempotency key, and the answer is ``succeeded`` (or
                            ``authorized``). paykit's reconciliation is what runs after the payer
                            comes back, so approval needs no extra call from the host.
``capture``                 ``POST /v2/payments/authorizations/{id}/capture`` (final capture)
``void``                    ``POST /v2/payments/authorizations/{id}/void``; an order not paid yet
                            (PayPal cannot cancel orders) is marked voided by a ``PATCH`` of its
                            ``custom_id``, and paykit never completes a marked order
``refund``                  ``POST /v2/payments/captures/{id}/refund``
``retrieve_refund``         ``GET /v2/payments/refunds/{id}``, or the order's refunds by paykit's
                            refund id when the refund's own id never arrived
==========================  ======================================================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Self

import attrs
import httpx
from cryptography import x509
from pydantic import SecretStr

from paykit.errors import (
    GatewayConfigurationError,
    GatewayError,
    ValidationError,
    WebhookSignatureError,
)
from paykit.gateways.base import (
    AUTHENTICATION_REQUIRED,
    NOT_FOUND,
    CaptureRequest,
    ChargeRequest,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
    RefundLookup,
    RefundRequest,
    VoidRequest,
    WebhookEvent,
)
from paykit.gateways.paypal._errors import Answer, outcome_for
from paykit.gateways.paypal._http import (
    LIVE_URL,
    SANDBOX_URL,
    Call,
    Core,
    Flow,
    Send,
    TokenCache,
    Transport,
)
from paykit.gateways.paypal._mapping import (
    capture_request_body,
    capture_result,
    find_authorization,
    find_refund,
    first_refundable_capture,
    is_checkout_token,
    is_lookup_probe,
    is_voided,
    order_request,
    order_result,
    probe_request,
    refund_request_body,
    refund_result,
    request_id,
    void_patch,
)
from paykit.gateways.paypal._webhooks import (
    DEFAULT_TOLERANCE,
    CertificateStore,
    SignedHeaders,
    capture_to_look_up,
    certificate_unavailable,
    normalise_event,
    parse_event,
    signed_message,
    verification_request_id,
    verify_request_body,
    verify_signature,
    with_capture,
)

__all__ = ["PayPalGateway"]

_ORDERS = "/v2/checkout/orders"
_COMPLETE_SUFFIX = ":complete"
_TOKEN_MARGIN = 300.0
_O = GatewayOutcome


class PayPalGateway:
    """paykit's PayPal adapter (Orders v2, Payments v2, webhooks), written directly on ``httpx``.

    ``client_id`` and ``client_secret`` are a PayPal REST app's credentials; the secret (and
    every access token) is kept as a pydantic ``SecretStr`` and never appears in a repr, a log
    line or an error message. ``environment`` picks ``https://api-m.sandbox.paypal.com`` or
    ``https://api-m.paypal.com``; ``base_url`` overrides both (a proxy, a test server).

    ``return_url`` / ``cancel_url`` are where PayPal sends the payer after approving or
    cancelling a checkout, when ``process_payment`` was given no ``return_url``.
    ``brand_name`` replaces the business name on PayPal's pages.

    ``webhook_id`` is the id PayPal gave the webhook (required to verify webhooks).
    ``webhook_verification`` is ``"api"`` (ask PayPal) or ``"offline"`` (check the certificate
    and signature here); ``webhook_trust_roots`` are PEM root certificates the offline check
    trusts instead of ``certifi``'s.

    ``max_retries`` is how often a request without an answer (a transport error, a 5xx) or
    refused for its rate (a 429) is repeated -- always with the same ``PayPal-Request-Id`` --
    before the outcome is reported; ``backoff`` the first pause between attempts (doubling,
    with jitter), or PayPal's ``Retry-After`` when that is longer. HTTP goes through
    ``httpx``: pass a ``transport`` (``httpx.MockTransport`` in tests, see
    :class:`~paykit.gateways.paypal.FakePayPal`) or ready ``http_client`` /
    ``async_http_client``.
    """

    def __init__(  # noqa: PLR0913 - every option is an independent, documented seam
        self,
        client_id: str,
        client_secret: SecretStr | str,
        *,
        environment: Literal["sandbox", "live"] = "sandbox",
        base_url: str | None = None,
        name: str = "paypal",
        return_url: str | None = None,
        cancel_url: str | None = None,
        brand_name: str | None = None,
        webhook_id: str | None = None,
        webhook_verification: Literal["api", "offline"] = "api",
        webhook_trust_roots: Sequence[bytes | str | x509.Certificate] | None = None,
        webhook_tolerance: float = DEFAULT_TOLERANCE,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        max_retries: int = 2,
        backoff: float = 0.5,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        secret = client_secret if isinstance(client_secret, SecretStr) else SecretStr(client_secret)
        if not client_id or not secret.get_secret_value():
            msg = "PayPal needs a REST app's client id and secret; one of them is empty"
            raise GatewayConfigurationError(msg, gateway_code="missing_credentials")
        if environment not in ("sandbox", "live"):
            msg = "must be 'sandbox' or 'live'"
            raise ValidationError(msg, field="environment")
        if webhook_verification not in ("api", "offline"):
            msg = "must be 'api' or 'offline'"
            raise ValidationError(msg, field="webhook_verification")
        if max_retries < 0:
            msg = "must be 0 or more"
            raise ValidationError(msg, field="max_retries")
        self._name = name
        self._environment = environment
        self._return_url = return_url
        self._cancel_url = cancel_url
        self._brand_name = brand_name
        self._webhook_id = webhook_id
        self._verification = webhook_verification
        self._tolerance = webhook_tolerance
        self._clock = clock
        self._certificates = CertificateStore(_roots(webhook_trust_roots))
        self._core = Core(
            client_id=client_id,
            client_secret=secret,
            base_url=base_url or (LIVE_URL if environment == "live" else SANDBOX_URL),
            max_retries=max_retries,
            backoff=backoff,
            tokens=TokenCache(clock=clock, margin=_TOKEN_MARGIN),
            clock=clock,
        )
        self._http = Transport(
            self._core,
            transport=transport,
            async_transport=async_transport,
            client=http_client,
            async_client=async_http_client,
            timeout=timeout,
            sleep=sleep,
        )

    @property
    def name(self) -> str:
        """The provider name stored on payment methods and payments (``"paypal"``)."""
        return self._name

    @property
    def environment(self) -> Literal["sandbox", "live"]:
        """Whether this gateway talks to PayPal's sandbox or live environment."""
        return self._environment

    @property
    def token_fetches(self) -> int:
        """How many access tokens this gateway has fetched so far."""
        return self._core.tokens.fetches

    def __repr__(self) -> str:
        return (
            f"PayPalGateway(name={self._name!r}, environment={self._environment!r}, "
            f"base_url={self._core.base_url!r}, max_retries={self._core.max_retries})"
        )

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the synchronous HTTP client this gateway built (not one passed in)."""
        self._http.close()

    async def aclose(self) -> None:
        """Close the asynchronous HTTP client this gateway built (not one passed in)."""
        await self._http.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the Gateway protocol -----------------------------------------------------------

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Create the PayPal order: ``requires_action`` for a checkout, paid for a vault id."""
        return self._http.run(self._charge(request))

    async def charge_async(self, request: ChargeRequest) -> GatewayResult:
        """:meth:`charge`, asynchronously."""
        return await self._http.run_async(self._charge(request))

    def capture(self, request: CaptureRequest) -> GatewayResult:
        """Capture all or part of the order's authorization (the rest is released)."""
        return self._http.run(self._capture(request))

    async def capture_async(self, request: CaptureRequest) -> GatewayResult:
        """:meth:`capture`, asynchronously."""
        return await self._http.run_async(self._capture(request))

    def void(self, request: VoidRequest) -> GatewayResult:
        """Void the order's authorization, or mark an unpaid order so it is never completed."""
        return self._http.run(self._void(request))

    async def void_async(self, request: VoidRequest) -> GatewayResult:
        """:meth:`void`, asynchronously."""
        return await self._http.run_async(self._void(request))

    def refund(self, request: RefundRequest) -> GatewayResult:
        """Refund all or part of the order's capture."""
        return self._http.run(self._refund(request))

    async def refund_async(self, request: RefundRequest) -> GatewayResult:
        """:meth:`refund`, asynchronously."""
        return await self._http.run_async(self._refund(request))

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """PayPal's truth about a payment; an APPROVED order is captured (or authorized) here."""
        return self._http.run(self._retrieve_payment(lookup))

    async def retrieve_payment_async(self, lookup: PaymentLookup) -> GatewayResult:
        """:meth:`retrieve_payment`, asynchronously."""
        return await self._http.run_async(self._retrieve_payment(lookup))

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        """PayPal's truth about a refund: by its id, else among the order's refunds."""
        return self._http.run(self._retrieve_refund(lookup))

    async def retrieve_refund_async(self, lookup: RefundLookup) -> GatewayResult:
        """:meth:`retrieve_refund`, asynchronously."""
        return await self._http.run_async(self._retrieve_refund(lookup))

    # -- WebhookGateway -----------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify the ``PAYPAL-*`` signature headers and normalise the event (see ``_webhooks``)."""
        return self._http.run(self._parse_webhook(headers, body))

    async def parse_webhook_async(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """:meth:`parse_webhook`, asynchronously."""
        return await self._http.run_async(self._parse_webhook(headers, body))

    # -- flows --------------------------------------------------------------------------

    def _outcome(self, answer: Answer, operation: str, what: str = "order") -> GatewayResult:
        return outcome_for(answer, operation=operation, secrets=self._core.secrets(), what=what)

    def _get_order(self, order_id: str, operation: str) -> Flow[Answer]:
        call = Call("GET", f"{_ORDERS}/{_segment(order_id)}", operation)
        return (yield from self._core.exchange(call))

    def _order_for_change(
        self, order_id: str, operation: str
    ) -> Flow[Mapping[str, Any] | GatewayResult]:
        """The order before a capture, void or refund: the order, or why not to go on.

        Nothing has been changed yet, so a lost answer here is an error that is safe to
        retry, not an unknown outcome.
        """
        answer = yield from self._get_order(order_id, operation)
        if answer.ok:
            return answer.json
        if answer.status is None or answer.status >= 500:  # noqa: PLR2004 - 5xx
            msg = (
                f"PayPal did not answer the order lookup before the {operation} "
                f"({answer.failure or answer.status}); nothing was sent, try again"
            )
            raise GatewayError(msg, gateway_code="order_lookup_failed", retryable=True)
        return self._outcome(answer, operation)

    def _charge(self, request: ChargeRequest) -> Flow[GatewayResult]:
        if request.off_session and is_checkout_token(request.payment_method_token):
            # Only the payer can approve a checkout: with nobody there, decline unsent.
            return GatewayResult(
                outcome=_O.DECLINED,
                decline_code=AUTHENTICATION_REQUIRED,
                message="PayPal needs you to approve this payment; please pay while you are here.",
            )
        body = order_request(
            request,
            return_url=self._return_url,
            cancel_url=self._cancel_url,
            brand_name=self._brand_name,
        )
        call = Call(
            "POST",
            _ORDERS,
            "charge",
            body=body,
            request_id=request_id(request.idempotency_key),
            representation=True,
        )
        answer = yield from self._core.exchange(call)
        if not answer.ok:
            return self._outcome(answer, "charge")
        order = answer.json
        if is_lookup_probe(order):
            return GatewayResult(
                outcome=_O.DECLINED,
                provider_id=order.get("id"),
                decline_code=NOT_FOUND,
                message=(
                    "A lookup claimed this charge's PayPal-Request-Id first, so the charge was "
                    "not made; create a new payment."
                ),
            )
        return order_result(order, operation="charge")

    def _retrieve_payment(self, lookup: PaymentLookup) -> Flow[GatewayResult]:
        if lookup.provider_payment_id is not None:
            answer = yield from self._get_order(lookup.provider_payment_id, "retrieve")
        else:
            call = Call(
                "POST",
                _ORDERS,
                "retrieve",
                body=probe_request(lookup),
                request_id=request_id(lookup.idempotency_key),
                representation=True,
            )
            answer = yield from self._core.exchange(call)
            if answer.ok and is_lookup_probe(answer.json):
                return GatewayResult(
                    outcome=_O.DECLINED,
                    decline_code=NOT_FOUND,
                    message=(
                        "PayPal has no order for this payment's request id: the charge never "
                        "reached PayPal (or PayPal no longer keeps the id, after 6 hours)."
                    ),
                    raw={"lookup_order": answer.json.get("id")},
                )
        if not answer.ok:
            if answer.status is None:
                return GatewayResult(outcome=_O.UNKNOWN, message=answer.failure)
            return self._outcome(answer, "retrieve")
        order = answer.json
        if order.get("status") == "APPROVED" and not is_voided(order):
            return (yield from self._complete(order, lookup))
        return order_result(order, operation="retrieve")

    def _complete(self, order: Mapping[str, Any], lookup: PaymentLookup) -> Flow[GatewayResult]:
        """Capture (or authorize) an order the payer approved."""
        order_id = str(order.get("id"))
        action = "authorize" if order.get("intent") == "AUTHORIZE" else "capture"
        call = Call(
            "POST",
            f"{_ORDERS}/{_segment(order_id)}/{action}",
            action,
            body={},
            request_id=request_id(lookup.idempotency_key, _COMPLETE_SUFFIX),
            representation=True,
        )
        answer = yield from self._core.exchange(call)
        if answer.ok:
            return order_result(answer.json, operation="retrieve")
        result = self._outcome(answer, action)
        if result.decline_code in ("ORDER_ALREADY_CAPTURED", "ORDER_ALREADY_AUTHORIZED"):
            again = yield from self._get_order(order_id, "retrieve")
            if again.ok:
                return order_result(again.json, operation="retrieve")
        return _with_provider_id(result, order_id)

    def _capture(self, request: CaptureRequest) -> Flow[GatewayResult]:
        body = capture_request_body(request)
        order_id = request.provider_payment_id
        found = yield from self._order_for_change(order_id, "capture")
        if isinstance(found, GatewayResult):
            return found
        authorization = find_authorization(found)
        if authorization is None:
            return GatewayResult(
                outcome=_O.DECLINED,
                provider_id=order_id,
                decline_code="NOT_AUTHORIZED",
                message="The PayPal order holds no authorization to capture.",
            )
        call = Call(
            "POST",
            f"/v2/payments/authorizations/{_segment(str(authorization.get('id')))}/capture",
            "capture",
            body=body,
            request_id=request_id(request.idempotency_key),
            representation=True,
        )
        answer = yield from self._core.exchange(call)
        if answer.ok:
            return capture_result(answer.json, order_id=order_id)
        return _with_provider_id(self._outcome(answer, "capture", "authorization"), order_id)

    def _void(self, request: VoidRequest) -> Flow[GatewayResult]:  # noqa: PLR0911 - per state
        order_id = request.provider_payment_id
        found = yield from self._order_for_change(order_id, "void")
        if isinstance(found, GatewayResult):
            return found
        if first_refundable_capture(found) is not None:
            return GatewayResult(
                outcome=_O.DECLINED,
                provider_id=order_id,
                decline_code="ALREADY_CAPTURED",
                message="The payment has already been captured; refund it instead.",
            )
        authorization = find_authorization(found)
        if authorization is not None:
            return (yield from self._void_authorization(request, authorization))
        if is_voided(found) or found.get("status") == "VOIDED":
            return GatewayResult(outcome=_O.SUCCEEDED, provider_id=order_id)
        if found.get("status") not in ("CREATED", "PAYER_ACTION_REQUIRED", "APPROVED", "SAVED"):
            return order_result(found, operation="void")
        call = Call(
            "PATCH",
            f"{_ORDERS}/{_segment(order_id)}",
            "void",
            body=void_patch(request.payment_id),
        )
        answer = yield from self._core.exchange(call)
        if answer.ok:
            return GatewayResult(outcome=_O.SUCCEEDED, provider_id=order_id)
        return _with_provider_id(self._outcome(answer, "void"), order_id)

    def _void_authorization(
        self, request: VoidRequest, authorization: Mapping[str, Any]
    ) -> Flow[GatewayResult]:
        order_id = request.provider_payment_id
        if authorization.get("status") == "VOIDED":
            return GatewayResult(outcome=_O.SUCCEEDED, provider_id=order_id)
        call = Call(
            "POST",
            f"/v2/payments/authorizations/{_segment(str(authorization.get('id')))}/void",
            "void",
            request_id=request_id(request.idempotency_key),
            representation=True,
        )
        answer = yield from self._core.exchange(call)
        if answer.ok:
            return GatewayResult(outcome=_O.SUCCEEDED, provider_id=order_id, raw=answer.json)
        result = self._outcome(answer, "void", "authorization")
        if result.decline_code == "PREVIOUSLY_VOIDED":
            return GatewayResult(outcome=_O.SUCCEEDED, provider_id=order_id, raw=result.raw)
        return _with_provider_id(result, order_id)

    def _refund(self, request: RefundRequest) -> Flow[GatewayResult]:
        body = refund_request_body(request)
        found = yield from self._order_for_change(request.provider_payment_id, "refund")
        if isinstance(found, GatewayResult):
            return found
        capture = first_refundable_capture(found)
        if capture is None:
            return GatewayResult(
                outcome=_O.DECLINED,
                decline_code="NOT_CAPTURED",
                message="The PayPal order has no completed capture to refund.",
            )
        call = Call(
            "POST",
            f"/v2/payments/captures/{_segment(str(capture.get('id')))}/refund",
            "refund",
            body=body,
            request_id=request_id(request.idempotency_key),
            representation=True,
        )
        answer = yield from self._core.exchange(call)
        if answer.ok:
            return refund_result(answer.json)
        return self._outcome(answer, "refund", "capture")

    def _retrieve_refund(self, lookup: RefundLookup) -> Flow[GatewayResult]:
        if lookup.provider_refund_id is not None:
            call = Call(
                "GET",
                f"/v2/payments/refunds/{_segment(lookup.provider_refund_id)}",
                "retrieve_refund",
            )
            answer = yield from self._core.exchange(call)
            if answer.ok:
                return refund_result(answer.json)
        else:
            answer = yield from self._get_order(lookup.provider_payment_id, "retrieve_refund")
            if answer.ok:
                refund = find_refund(answer.json, lookup.refund_id)
                if refund is not None:
                    return refund_result(refund)
                return GatewayResult(
                    outcome=_O.DECLINED,
                    decline_code=NOT_FOUND,
                    message="PayPal has no refund with this paykit refund id on the order.",
                )
        if answer.status is None:
            return GatewayResult(outcome=_O.UNKNOWN, message=answer.failure)
        return self._outcome(answer, "retrieve_refund", "refund")

    def _parse_webhook(self, headers: Mapping[str, str], body: bytes) -> Flow[WebhookEvent]:
        webhook_id = self._webhook_id
        if not webhook_id:
            msg = "configure PayPalGateway(webhook_id=...) to verify PayPal webhooks"
            raise GatewayConfigurationError(msg, gateway_code="missing_webhook_id")
        body = bytes(body)
        signed = SignedHeaders.read(headers, now=self._clock(), tolerance=self._tolerance)
        event = parse_event(body)
        if self._verification == "offline":
            key = yield from self._certificate(signed.cert_url)
            verify_signature(key, signed, signed_message(signed, webhook_id, body))
        else:
            yield from self._verify_with_paypal(signed, webhook_id, body)
        normalised = normalise_event(event, provider=self._name)
        capture_id = capture_to_look_up(normalised)
        if capture_id is None:
            return normalised
        return (yield from self._name_payment_of_capture(normalised, capture_id))

    def _name_payment_of_capture(self, event: WebhookEvent, capture_id: str) -> Flow[WebhookEvent]:
        """Read the order and paykit payment off the capture an event names instead.

        Without them the event could never be matched to a payment (a reversal, a dispute
        without ``custom``). A capture PayPal does not know leaves the event as it is (stored
        unmatched); a lost lookup is retryable, so the host answers 5xx and PayPal delivers
        the event again.
        """
        call = Call("GET", f"/v2/payments/captures/{_segment(capture_id)}", "webhook lookup")
        answer = yield from self._core.exchange(call)
        if answer.ok:
            return with_capture(event, answer.json)
        if answer.answer_later:
            msg = (
                f"PayPal did not answer the lookup of capture {capture_id} for event "
                f"{event.event_id} ({answer.failure or answer.status}); answer 5xx so PayPal "
                "delivers it again"
            )
            raise GatewayError(msg, gateway_code="capture_lookup_failed", retryable=True)
        if answer.status in (401, 403):
            self._outcome(answer, "webhook lookup")  # raises the configuration error
        return event

    def _verify_with_paypal(
        self, signed: SignedHeaders, webhook_id: str, body: bytes
    ) -> Flow[None]:
        call = Call(
            "POST",
            "/v1/notifications/verify-webhook-signature",
            "webhook verification",
            raw_body=verify_request_body(signed, webhook_id, body),
            request_id=verification_request_id(signed, webhook_id, body),
        )
        answer = yield from self._core.exchange(call)
        if answer.ok:
            if answer.json.get("verification_status") == "SUCCESS":
                return
            msg = "PayPal says the webhook signature does not verify"
            raise _signature_error(msg)
        if answer.answer_later:
            why = answer.failure or answer.status
            msg = (
                f"PayPal could not be asked to verify the webhook ({why}); answer 5xx so PayPal "
                "delivers it again"
            )
            raise GatewayError(msg, gateway_code="verification_unavailable", retryable=True)
        if answer.status in (401, 403):
            self._outcome(answer, "webhook verification")  # raises the configuration error
        msg = f"PayPal refused to verify the webhook (HTTP {answer.status})"
        raise _signature_error(msg)

    def _certificate(self, url: str) -> Flow[Any]:
        now = datetime.fromtimestamp(self._clock(), UTC)
        key = self._certificates.cached(url, now)
        if key is not None:
            return key
        try:
            response = yield Send("GET", url, {"Accept": "application/x-pem-file, */*"})
        except httpx.HTTPError as error:
            raise certificate_unavailable(type(error).__name__) from None
        if not isinstance(response, httpx.Response) or response.status_code != 200:  # noqa: PLR2004
            status = getattr(response, "status_code", "no answer")
            raise certificate_unavailable(f"HTTP {status}")
        return self._certificates.accept(url, response.content, now)


def _signature_error(message: str) -> WebhookSignatureError:
    return WebhookSignatureError(message)


def _segment(value: str) -> str:
    """``value`` as one URL path segment (ids never contain ``/``; refuse one that does)."""
    if not value or "/" in value or "?" in value or "#" in value or ".." in value:
        msg = "is not a PayPal id"
        raise ValidationError(msg, field="provider_payment_id")
    return value


def _with_provider_id(result: GatewayResult, order_id: str) -> GatewayResult:
    return result if result.provider_id is not None else attrs.evolve(result, provider_id=order_id)


def _roots(roots: Sequence[bytes | str | x509.Certificate] | None) -> list[x509.Certificate] | None:
    if roots is None:
        return None
    loaded: list[x509.Certificate] = []
    for root in roots:
        if isinstance(root, x509.Certificate):
            loaded.append(root)
        else:
            data = root.encode() if isinstance(root, str) else root
            loaded.extend(x509.load_pem_x509_certificates(data))
    return loaded
