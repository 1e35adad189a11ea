"""``StripeGateway``: paykit's Gateway, WebhookGateway and PaymentMethodGateway over PaymentIntents.

Every operation is built once as a :class:`_Call` -- the parameters (amounts checked against
Stripe's currency rules *before* anything is sent), the request options carrying the
idempotency key, the SDK call in its synchronous and asynchronous form, and the mapping of
the answer -- and then run by :meth:`StripeGateway._run` or :meth:`StripeGateway._run_async`.
The two flavours share everything but the ``await``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, Self, TypeVar

import anyio
import attrs
import httpx
import stripe
from pydantic import SecretStr
from stripe.params import PaymentIntentCancelParams

from paykit.errors import GatewayConfigurationError, GatewayError, ValidationError
from paykit.gateways.base import (
    CaptureRequest,
    ChargeRequest,
    GatewayOutcome,
    GatewayResult,
    PaymentLookup,
    PaymentMethodDetails,
    RefundLookup,
    RefundRequest,
    VoidRequest,
    WebhookEvent,
)
from paykit.gateways.stripe._errors import result_for_error
from paykit.gateways.stripe._http import HttpxStripeClient
from paykit.gateways.stripe._mapping import (
    capture_params,
    charge_params,
    confirm_params,
    payment_intent_result,
    payment_method_details,
    pick_payment_intent,
    pick_refund,
    refund_params,
    refund_result,
    search_query,
)
from paykit.gateways.stripe._webhooks import (
    DEFAULT_TOLERANCE,
    StripeWebhookVerifier,
    normalise_event,
)

__all__ = ["StripeGateway"]

R = TypeVar("R")

_SEARCH_INTERVAL = 2.0
"""The longest pause between searches while ``search_wait`` lets a lookup wait for the index."""


@attrs.frozen
class _Call(Generic[R]):
    """One Stripe API operation, ready to run synchronously or asynchronously."""

    operation: str
    send: Callable[[], stripe.StripeObject]
    send_async: Callable[[], Awaitable[stripe.StripeObject]]
    finish: Callable[[dict[str, Any]], R]
    on_error: Callable[[stripe.StripeError], R]


class StripeGateway:
    """paykit's Stripe adapter (PaymentIntents, Refunds, PaymentMethods, webhooks).

    ``api_key`` is a secret (``sk_...``) or restricted (``rk_...``) key; it is kept as a
    pydantic ``SecretStr`` and never appears in a repr, a log line or an error message.
    ``webhook_secrets`` are the endpoint signing secrets (``whsec_...``); give the old and
    the new one while rolling a secret. HTTP goes through ``httpx``: pass a ``transport``
    (``httpx.MockTransport`` in tests) or ready ``http_client`` / ``async_http_client``.

    ``max_network_retries`` is how often the SDK repeats a request whose answer did not
    arrive (a connection error, a 409, a 5xx) -- always with the same ``Idempotency-Key``.
    ``stripe_version`` defaults to the version the installed SDK is typed for.
    ``stripe_customer_for`` maps the application's customer id to a Stripe Customer id (or
    ``None``); without it no ``customer`` is sent. A PaymentMethod attached to a Stripe
    Customer can only be charged together with that Customer, so applications that attach
    saved cards pass it (``lambda customer_id: my_stripe_ids[customer_id]``).
    ``search_wait`` is how many seconds :meth:`retrieve_payment` keeps asking Stripe's search
    (which trails writes, usually by under a minute) when a payment without a provider id is
    not found yet (asking at least five times, at most every two seconds); the default, 0,
    asks once and reports ``unknown``. ``search_trusted_after`` is how long after paykit sent
    a charge a search that finds nothing is believed: Stripe never received the charge, and
    the lookup answers ``declined`` / ``not_found`` (the payment fails) instead of
    ``unknown``. Stripe documents search trailing writes by up to an hour during outages;
    the default, two hours, leaves a margin.
    """

    def __init__(  # noqa: PLR0913 - every option is an independent, documented seam
        self,
        api_key: SecretStr | str,
        *,
        webhook_secrets: Sequence[SecretStr | str] = (),
        name: str = "stripe",
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        max_network_retries: int = 2,
        timeout: float = 30.0,
        stripe_version: str | None = None,
        stripe_account: str | None = None,
        api_base: str | None = None,
        stripe_customer_for: Callable[[str], str | None] | None = None,
        webhook_tolerance: int = DEFAULT_TOLERANCE,
        clock: Callable[[], float] = time.time,
        search_wait: float = 0.0,
        search_trusted_after: timedelta = timedelta(hours=2),
    ) -> None:
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        plain = key.get_secret_value()
        if not plain.startswith(("sk_", "rk_")):
            msg = (
                "Stripe needs a secret key (sk_...) or a restricted key (rk_...) for "
                "server-side calls; the key given is neither"
            )
            raise GatewayConfigurationError(msg, gateway_code="invalid_api_key")
        if max_network_retries < 0:
            msg = "must be 0 or more"
            raise ValidationError(msg, field="max_network_retries")
        if search_trusted_after <= timedelta(0):
            msg = "must be longer than zero (Stripe's search trails every write)"
            raise ValidationError(msg, field="search_trusted_after")
        self._api_key = key
        self._name = name
        self._mode = "live" if "_live_" in plain else "test"
        self._retries = max_network_retries
        self._customer_for = stripe_customer_for or _no_customer
        self._search_wait = search_wait
        self._search_interval = min(_SEARCH_INTERVAL, search_wait / 5)
        self._search_trusted_after = search_trusted_after
        self._clock = clock
        self._http = HttpxStripeClient(
            transport=transport,
            async_transport=async_transport,
            client=http_client,
            async_client=async_http_client,
            timeout=timeout,
        )
        self.stripe_version: str = stripe_version or stripe.api_version
        """The ``Stripe-Version`` header every request carries."""
        self._client = stripe.StripeClient(
            plain,
            stripe_version=self.stripe_version,
            stripe_account=stripe_account,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=self._http,
        )
        self._verifier = StripeWebhookVerifier(
            [s if isinstance(s, SecretStr) else SecretStr(s) for s in webhook_secrets],
            tolerance=webhook_tolerance,
            clock=clock,
        )

    @property
    def name(self) -> str:
        """The provider name stored on payment methods and payments (``"stripe"``)."""
        return self._name

    @property
    def mode(self) -> Literal["test", "live"]:
        """Whether the key is a test-mode or a live-mode key."""
        return "live" if self._mode == "live" else "test"

    def __repr__(self) -> str:
        return (
            f"StripeGateway(name={self._name!r}, mode={self._mode!r}, "
            f"max_network_retries={self._retries})"
        )

    # -- lifecycle ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the synchronous HTTP client this gateway built (not one passed in)."""
        self._http.close()

    async def aclose(self) -> None:
        """Close the asynchronous HTTP client this gateway built (not one passed in)."""
        await self._http.close_async()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the Gateway protocol -----------------------------------------------------------

    def charge(self, request: ChargeRequest) -> GatewayResult:
        """Create and confirm a PaymentIntent: a purchase, or an authorization (manual capture)."""
        return self._run(self._charge(request))

    async def charge_async(self, request: ChargeRequest) -> GatewayResult:
        """:meth:`charge`, asynchronously."""
        return await self._run_async(self._charge(request))

    def capture(self, request: CaptureRequest) -> GatewayResult:
        """Capture all or part of an authorized PaymentIntent."""
        return self._run(self._capture(request))

    async def capture_async(self, request: CaptureRequest) -> GatewayResult:
        """:meth:`capture`, asynchronously."""
        return await self._run_async(self._capture(request))

    def void(self, request: VoidRequest) -> GatewayResult:
        """Cancel a PaymentIntent that has not taken money (authorized or awaiting action)."""
        return self._run(self._void(request))

    async def void_async(self, request: VoidRequest) -> GatewayResult:
        """:meth:`void`, asynchronously."""
        return await self._run_async(self._void(request))

    def refund(self, request: RefundRequest) -> GatewayResult:
        """Refund all or part of a captured PaymentIntent."""
        return self._run(self._refund(request))

    async def refund_async(self, request: RefundRequest) -> GatewayResult:
        """:meth:`refund`, asynchronously."""
        return await self._run_async(self._refund(request))

    def retrieve_payment(self, lookup: PaymentLookup) -> GatewayResult:
        """Stripe's truth about a payment: by PaymentIntent id, else by searching its metadata."""
        call = self._retrieve_payment(lookup)
        result = self._run(call)
        deadline = time.monotonic() + self._search_wait
        while _not_found_yet(result) and time.monotonic() < deadline:
            time.sleep(self._search_interval)
            result = self._run(call)
        return result

    async def retrieve_payment_async(self, lookup: PaymentLookup) -> GatewayResult:
        """:meth:`retrieve_payment`, asynchronously."""
        call = self._retrieve_payment(lookup)
        result = await self._run_async(call)
        deadline = time.monotonic() + self._search_wait
        while _not_found_yet(result) and time.monotonic() < deadline:
            await anyio.sleep(self._search_interval)
            result = await self._run_async(call)
        return result

    def retrieve_refund(self, lookup: RefundLookup) -> GatewayResult:
        """Stripe's truth about a refund: by Refund id, else among its PaymentIntent's refunds."""
        return self._run(self._retrieve_refund(lookup))

    async def retrieve_refund_async(self, lookup: RefundLookup) -> GatewayResult:
        """:meth:`retrieve_refund`, asynchronously."""
        return await self._run_async(self._retrieve_refund(lookup))

    def confirm(
        self, provider_payment_id: str, *, idempotency_key: str, return_url: str | None = None
    ) -> GatewayResult:
        """Confirm a PaymentIntent again (manual confirmation, or a new attempt)."""
        return self._run(self._confirm(provider_payment_id, idempotency_key, return_url))

    async def confirm_async(
        self, provider_payment_id: str, *, idempotency_key: str, return_url: str | None = None
    ) -> GatewayResult:
        """:meth:`confirm`, asynchronously."""
        return await self._run_async(
            self._confirm(provider_payment_id, idempotency_key, return_url)
        )

    # -- WebhookGateway -----------------------------------------------------------------

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Verify ``Stripe-Signature`` and normalise the event (see ``_webhooks``)."""
        return normalise_event(self._verifier.verify(headers, body), provider=self._name)

    # -- PaymentMethodGateway -----------------------------------------------------------

    def attach_payment_method(
        self, token: str, *, provider_customer_id: str | None
    ) -> PaymentMethodDetails:
        """Attach a ``pm_...`` to a Stripe Customer (when given) and return its display details."""
        return self._run(self._attach(token, provider_customer_id))

    async def attach_payment_method_async(
        self, token: str, *, provider_customer_id: str | None
    ) -> PaymentMethodDetails:
        """:meth:`attach_payment_method`, asynchronously."""
        return await self._run_async(self._attach(token, provider_customer_id))

    def detach_payment_method(self, token: str) -> None:
        """Detach a ``pm_...`` from its Stripe Customer."""
        self._run(self._detach(token))

    async def detach_payment_method_async(self, token: str) -> None:
        """:meth:`detach_payment_method`, asynchronously."""
        await self._run_async(self._detach(token))

    # -- running a call -----------------------------------------------------------------

    @staticmethod
    def _run(call: _Call[R]) -> R:
        try:
            answer = call.send()
        except stripe.StripeError as error:
            return call.on_error(error)
        return call.finish(answer.to_dict(for_json=True))

    @staticmethod
    async def _run_async(call: _Call[R]) -> R:
        try:
            answer = await call.send_async()
        except stripe.StripeError as error:
            return call.on_error(error)
        return call.finish(answer.to_dict(for_json=True))

    def _result_for(self, operation: str) -> Callable[[stripe.StripeError], GatewayResult]:
        secret = self._api_key.get_secret_value()
        return lambda error: result_for_error(error, operation=operation, secret=secret)

    def _raise_for(self, operation: str) -> Callable[[stripe.StripeError], Any]:
        """For calls that return no GatewayResult: every error, even a decline, is raised."""
        secret = self._api_key.get_secret_value()

        def on_error(error: stripe.StripeError) -> Any:  # noqa: ANN401 - it never returns
            result = result_for_error(error, operation=operation, secret=secret)
            retryable = result.outcome is GatewayOutcome.UNKNOWN
            msg = f"Stripe did not {operation} the payment method: {result.message}"
            raise GatewayError(
                msg,
                gateway_code=result.decline_code,
                gateway_message=result.message,
                request_id=result.raw.get("request_id"),
                retryable=retryable,
            )

        return on_error

    # -- building the calls -------------------------------------------------------------

    def _charge(self, request: ChargeRequest) -> _Call[GatewayResult]:
        params = charge_params(request, stripe_customer=self._customer_for(request.customer_id))
        options: stripe.RequestOptions = {"idempotency_key": request.idempotency_key}
        intents = self._client.v1.payment_intents
        return _Call(
            operation="charge",
            send=lambda: intents.create(params, options),
            send_async=lambda: intents.create_async(params, options),
            finish=lambda intent: payment_intent_result(intent, operation="charge"),
            on_error=self._result_for("charge"),
        )

    def _capture(self, request: CaptureRequest) -> _Call[GatewayResult]:
        params = capture_params(request)
        options: stripe.RequestOptions = {"idempotency_key": request.idempotency_key}
        intents, intent_id = self._client.v1.payment_intents, request.provider_payment_id
        return _Call(
            operation="capture",
            send=lambda: intents.capture(intent_id, params, options),
            send_async=lambda: intents.capture_async(intent_id, params, options),
            finish=lambda intent: payment_intent_result(intent, operation="capture"),
            on_error=self._result_for("capture"),
        )

    def _void(self, request: VoidRequest) -> _Call[GatewayResult]:
        params: PaymentIntentCancelParams = {}
        options: stripe.RequestOptions = {"idempotency_key": request.idempotency_key}
        intents, intent_id = self._client.v1.payment_intents, request.provider_payment_id
        return _Call(
            operation="void",
            send=lambda: intents.cancel(intent_id, params, options),
            send_async=lambda: intents.cancel_async(intent_id, params, options),
            finish=lambda intent: payment_intent_result(intent, operation="void"),
            on_error=self._result_for("void"),
        )

    def _refund(self, request: RefundRequest) -> _Call[GatewayResult]:
        params = refund_params(request)
        options: stripe.RequestOptions = {"idempotency_key": request.idempotency_key}
        refunds = self._client.v1.refunds
        return _Call(
            operation="refund",
            send=lambda: refunds.create(params, options),
            send_async=lambda: refunds.create_async(params, options),
            finish=refund_result,
            on_error=self._result_for("refund"),
        )

    def _confirm(
        self, intent_id: str, idempotency_key: str, return_url: str | None
    ) -> _Call[GatewayResult]:
        params = confirm_params(return_url)
        options: stripe.RequestOptions = {"idempotency_key": idempotency_key}
        intents = self._client.v1.payment_intents
        return _Call(
            operation="confirm",
            send=lambda: intents.confirm(intent_id, params, options),
            send_async=lambda: intents.confirm_async(intent_id, params, options),
            finish=lambda intent: payment_intent_result(intent, operation="confirm"),
            on_error=self._result_for("confirm"),
        )

    def _retrieve_payment(self, lookup: PaymentLookup) -> _Call[GatewayResult]:
        intents = self._client.v1.payment_intents
        intent_id = lookup.provider_payment_id
        if intent_id is not None:
            return _Call(
                operation="retrieve",
                send=lambda: intents.retrieve(intent_id),
                send_async=lambda: intents.retrieve_async(intent_id),
                finish=lambda intent: payment_intent_result(intent, operation="retrieve"),
                on_error=self._result_for("retrieve"),
            )
        query = search_query(lookup.payment_id)
        payment_id = lookup.payment_id
        return _Call(
            operation="retrieve",
            send=lambda: intents.search({"query": query, "limit": 10}),
            send_async=lambda: intents.search_async({"query": query, "limit": 10}),
            finish=lambda found: pick_payment_intent(
                found, payment_id, index_caught_up=self._index_caught_up(lookup.submitted_at)
            ),
            on_error=self._result_for("retrieve"),
        )

    def _index_caught_up(self, submitted_at: datetime | None) -> bool:
        """Whether Stripe's search index shows by now a charge paykit sent at ``submitted_at``."""
        if submitted_at is None:  # an older caller: never conclude "never received"
            return False
        now = datetime.fromtimestamp(self._clock(), UTC)
        return now - submitted_at >= self._search_trusted_after

    def _retrieve_refund(self, lookup: RefundLookup) -> _Call[GatewayResult]:
        refunds = self._client.v1.refunds
        refund_id = lookup.provider_refund_id
        if refund_id is not None:
            return _Call(
                operation="retrieve_refund",
                send=lambda: refunds.retrieve(refund_id),
                send_async=lambda: refunds.retrieve_async(refund_id),
                finish=refund_result,
                on_error=self._result_for("retrieve_refund"),
            )
        intent_id, paykit_refund_id = lookup.provider_payment_id, lookup.refund_id
        return _Call(
            operation="retrieve_refund",
            send=lambda: refunds.list({"payment_intent": intent_id, "limit": 100}),
            send_async=lambda: refunds.list_async({"payment_intent": intent_id, "limit": 100}),
            finish=lambda found: pick_refund(found, paykit_refund_id),
            on_error=self._result_for("retrieve_refund"),
        )

    def _attach(self, token: str, customer: str | None) -> _Call[PaymentMethodDetails]:
        methods = self._client.v1.payment_methods
        if customer is None:
            return _Call(
                operation="describe",
                send=lambda: methods.retrieve(token),
                send_async=lambda: methods.retrieve_async(token),
                finish=payment_method_details,
                on_error=self._raise_for("describe"),
            )
        options: stripe.RequestOptions = {"idempotency_key": _one_off_key("attach", token)}
        return _Call(
            operation="attach",
            send=lambda: methods.attach(token, {"customer": customer}, options),
            send_async=lambda: methods.attach_async(token, {"customer": customer}, options),
            finish=payment_method_details,
            on_error=self._raise_for("attach"),
        )

    def _detach(self, token: str) -> _Call[None]:
        methods = self._client.v1.payment_methods
        options: stripe.RequestOptions = {"idempotency_key": _one_off_key("detach", token)}
        return _Call(
            operation="detach",
            send=lambda: methods.detach(token, {}, options),
            send_async=lambda: methods.detach_async(token, {}, options),
            finish=lambda _method: None,
            on_error=self._detach_error,
        )

    def _detach_error(self, error: stripe.StripeError) -> None:
        """Detaching a method that is attached to no Customer has nothing to undo.

        Stripe refuses it (``payment_method_unexpected_state``); for paykit the method is
        detached either way, so removing it must not fail. Every other error is raised.
        """
        if isinstance(error, stripe.InvalidRequestError) and (
            error.code == "payment_method_unexpected_state"
        ):
            return
        self._raise_for("detach")(error)


def _one_off_key(operation: str, token: str) -> str:
    """A key for one attach or detach: the same on the SDK's retries, new for the next call.

    A key derived from the token alone would make Stripe replay an old answer when a method
    is attached again after a detach (keys live 24 hours), instead of attaching it.
    """
    return f"paykit:{operation}:{token}:{secrets.token_hex(8)}"


def _no_customer(_customer_id: str) -> None:
    """The default customer mapping: send no Stripe Customer."""


def _not_found_yet(result: GatewayResult) -> bool:
    """Whether a lookup by search found nothing (worth asking again while waiting)."""
    return result.outcome is GatewayOutcome.UNKNOWN and result.raw.get("matches") == 0
