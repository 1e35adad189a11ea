"""The endpoints of the original app's ``/api/v1/payments`` API, over ``PaymentService``.

Each endpoint does one thing: check the caller may see the record (``_scope``), call the
service, and answer the record as its response model (``_schemas.json_answer``: serialised
once, not validated again by FastAPI). Errors, the caller's identity, the body limit and
``Idempotency-Key`` are handled around them (``_routing``).
The functions are synchronous: FastAPI runs them in its thread pool, as the service is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from paykit.api._analytics import add_analytics_routes
from paykit.api._auth import Principal, RefundPolicy
from paykit.api._pagination import (
    DEFAULT_LIMIT,
    Cursor,
    EndingBefore,
    Limit,
    StartingAfter,
    page_of,
)
from paykit.api._routing import principal_of
from paykit.api._schemas import (
    CaptureRequest,
    DateTime,
    LogEntryOut,
    Page,
    PaymentCreate,
    PaymentMethodCreate,
    PaymentMethodOut,
    PaymentMethodPatch,
    PaymentMethodReplace,
    PaymentOut,
    Problem,
    ProcessRequest,
    RefundCreate,
    RefundOut,
    StatusOut,
    json_answer,
    log_entry_out,
    payment_method_out,
    payment_out,
    refund_out,
)
from paykit.api._scope import (
    METHOD_KIND,
    acting_customer,
    require_refund_allowed,
    require_staff_for_refund,
    visible_method,
    visible_payment,
    visible_refund,
)
from paykit.domain.payment import Payment
from paykit.domain.refund import Refund
from paykit.errors import NotFound, PaymentMethodOwnershipError, ValidationError
from paykit.service import PaymentService

__all__ = ["add_routes", "add_webhook_routes"]

_PROBLEM_CONTENT: Final = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}
_PROBLEMS: Final[dict[int | str, dict[str, Any]]] = {
    status: {"model": Problem, "description": title, "content": _PROBLEM_CONTENT}
    for status, title in (
        (400, "The body is not valid JSON"),
        (401, "Not authenticated"),
        (403, "The caller may see the record but not do this (staff only, refund policy)"),
        (404, "No such record, or not the caller's"),
        (409, "The record's state does not allow it, or the request is in progress"),
        (413, "The body is too large"),
        (422, "Invalid request"),
        (502, "The provider failed"),
        (503, "The provider asks to try later (Retry-After)"),
    )
}

_WEBHOOK_ANSWERS: Final[dict[int | str, dict[str, Any]]] = {
    status: {"description": meaning, "content": {"text/plain": {"schema": {"type": "string"}}}}
    for status, meaning in (
        (200, "Applied, stored for later, a duplicate or ignored"),
        (400, "The signature, timestamp or body did not verify: nothing was stored"),
        (404, "No gateway of that name takes webhooks"),
        (413, "The body is too large"),
        (503, "paykit could not verify or store the event: deliver it again"),
    )
}

OptionalProcess = Annotated[ProcessRequest | None, Body()]
OptionalCapture = Annotated[CaptureRequest | None, Body()]


def add_routes(router: APIRouter, service: PaymentService, refund_policy: RefundPolicy) -> None:
    """Register every authenticated endpoint on ``router`` (fixed paths before ``/{id}/``)."""
    _add_method_routes(router, service)
    _add_refund_routes(router, service, refund_policy)
    add_analytics_routes(router, service, _PROBLEMS)
    _add_payment_routes(router, service)


def _add_method_routes(router: APIRouter, service: PaymentService) -> None:
    @router.get("/methods/", response_model=Page[PaymentMethodOut], responses=_PROBLEMS)
    def list_methods(  # noqa: PLR0913, PLR0917 - FastAPI passes the list's filters by name
        request: Request,
        customer_id: Annotated[str | None, Query(max_length=255)] = None,
        include_inactive: bool = False,  # noqa: FBT001, FBT002 - a query flag
        limit: Limit = DEFAULT_LIMIT,
        starting_after: StartingAfter = None,
        ending_before: EndingBefore = None,
    ) -> Response:
        """The customer's saved payment methods, oldest first."""
        principal = principal_of(request)
        whose = acting_customer(principal, customer_id)
        methods = service.list_payment_methods(whose, include_inactive=include_inactive)
        data, more = page_of(methods, Cursor(limit, starting_after, ending_before))
        return json_answer(Page(data=[payment_method_out(m) for m in data], has_more=more))

    @router.post("/methods/", status_code=201, response_model=PaymentMethodOut, responses=_PROBLEMS)
    def add_method(request: Request, body: PaymentMethodCreate) -> Response:
        """Save a provider token as a payment method."""
        whose = acting_customer(principal_of(request), body.customer_id)
        fields = body.model_dump(exclude={"customer_id"})
        method = service.add_payment_method(whose, **fields)
        return json_answer(payment_method_out(method), status_code=201)

    @router.get("/methods/{method_id}/", response_model=PaymentMethodOut, responses=_PROBLEMS)
    def get_method(request: Request, method_id: str) -> Response:
        """One payment method."""
        return json_answer(
            payment_method_out(visible_method(service, principal_of(request), method_id))
        )

    @router.put("/methods/{method_id}/", response_model=PaymentMethodOut, responses=_PROBLEMS)
    def replace_method(request: Request, method_id: str, body: PaymentMethodReplace) -> Response:
        """Replace the expiry and metadata of a payment method."""
        visible_method(service, principal_of(request), method_id)
        method = service.update_payment_method(
            method_id, exp_month=body.exp_month, exp_year=body.exp_year, metadata=body.metadata
        )
        return json_answer(payment_method_out(method))

    @router.patch("/methods/{method_id}/", response_model=PaymentMethodOut, responses=_PROBLEMS)
    def update_method(request: Request, method_id: str, body: PaymentMethodPatch) -> Response:
        """Change the expiry or the metadata of a payment method."""
        visible_method(service, principal_of(request), method_id)
        method = service.update_payment_method(
            method_id, exp_month=body.exp_month, exp_year=body.exp_year, metadata=body.metadata
        )
        return json_answer(payment_method_out(method))

    @router.delete(
        "/methods/{method_id}/", status_code=204, response_class=Response, responses=_PROBLEMS
    )
    def remove_method(request: Request, method_id: str) -> Response:
        """Remove a payment method (detached at the provider first, where it is managed)."""
        visible_method(service, principal_of(request), method_id)
        service.remove_payment_method(method_id)
        return Response(status_code=204)

    @router.post(
        "/methods/{method_id}/set-default/", response_model=PaymentMethodOut, responses=_PROBLEMS
    )
    def set_default_method(request: Request, method_id: str) -> Response:
        """Make this the customer's default payment method."""
        visible_method(service, principal_of(request), method_id)
        return json_answer(payment_method_out(service.set_default_payment_method(method_id)))


def _add_refund_routes(
    router: APIRouter, service: PaymentService, refund_policy: RefundPolicy
) -> None:
    @router.get("/refunds/", response_model=Page[RefundOut], responses=_PROBLEMS)
    def list_refunds(  # noqa: PLR0913, PLR0917 - FastAPI passes the list's filters by name
        request: Request,
        payment_id: Annotated[str | None, Query(max_length=255)] = None,
        status: Annotated[str | None, Query(max_length=32)] = None,
        limit: Limit = DEFAULT_LIMIT,
        starting_after: StartingAfter = None,
        ending_before: EndingBefore = None,
    ) -> Response:
        """Refunds of the caller's payments (or of one payment), oldest first."""
        principal = principal_of(request)
        if payment_id is not None:
            payments = [visible_payment(service, principal, payment_id)]
        else:
            payments = _visible_payments(service, principal)
        refunds: list[Refund] = []
        for payment in payments:
            refunds.extend(service.list_refunds(payment.id))
        refunds.sort(key=lambda refund: (refund.created_at, refund.id))
        if status is not None:
            refunds = [refund for refund in refunds if refund.status == status]
        data, more = page_of(refunds, Cursor(limit, starting_after, ending_before))
        return json_answer(Page(data=[refund_out(r) for r in data], has_more=more))

    @router.post("/refunds/", status_code=201, response_model=RefundOut, responses=_PROBLEMS)
    def create_refund(request: Request, body: RefundCreate) -> Response:
        """Ask for a refund; the amount is reserved at once (the policy says who may)."""
        require_refund_allowed(service, principal_of(request), body.payment_id, refund_policy)
        refund = service.create_refund(
            body.payment_id, body.amount, reason=body.reason, metadata=body.metadata
        )
        return json_answer(refund_out(refund), status_code=201)

    @router.get("/refunds/{refund_id}/", response_model=RefundOut, responses=_PROBLEMS)
    def get_refund(request: Request, refund_id: str) -> Response:
        """One refund."""
        refund, _ = visible_refund(service, principal_of(request), refund_id)
        return json_answer(refund_out(refund))

    @router.post("/refunds/{refund_id}/process/", response_model=RefundOut, responses=_PROBLEMS)
    def process_refund(request: Request, refund_id: str) -> Response:
        """Send a pending refund to the provider (staff only)."""
        require_staff_for_refund(service, principal_of(request), refund_id, "process refunds")
        return json_answer(refund_out(service.process_refund(refund_id)))

    @router.post("/refunds/{refund_id}/cancel/", response_model=RefundOut, responses=_PROBLEMS)
    def cancel_refund(request: Request, refund_id: str) -> Response:
        """Cancel a pending refund and release its reservation (staff only)."""
        require_staff_for_refund(service, principal_of(request), refund_id, "cancel refunds")
        return json_answer(refund_out(service.cancel_refund(refund_id)))


def _add_payment_routes(router: APIRouter, service: PaymentService) -> None:  # noqa: C901 - one small function per endpoint
    @router.get("/", response_model=Page[PaymentOut], responses=_PROBLEMS)
    def list_payments(  # noqa: PLR0913, PLR0917 - FastAPI passes the seed's filters by name
        request: Request,
        status: Annotated[str | None, Query(max_length=32)] = None,
        order_id: Annotated[str | None, Query(max_length=255)] = None,
        created_gte: DateTime | None = None,
        created_lte: DateTime | None = None,
        customer_id: Annotated[str | None, Query(max_length=255)] = None,
        limit: Limit = DEFAULT_LIMIT,
        starting_after: StartingAfter = None,
        ending_before: EndingBefore = None,
    ) -> Response:
        """The caller's payments, oldest first, filtered by status, order and date."""
        principal = principal_of(request)
        whose = customer_id if principal.is_staff else acting_customer(principal, customer_id)
        payments = service.list_payments(customer_id=whose, order_id=order_id, status=status)
        payments = [p for p in payments if _created_within(p, created_gte, created_lte)]
        data, more = page_of(payments, Cursor(limit, starting_after, ending_before))
        return json_answer(Page(data=[payment_out(p) for p in data], has_more=more))

    @router.post("/", status_code=201, response_model=PaymentOut, responses=_PROBLEMS)
    def create_payment(request: Request, body: PaymentCreate) -> Response:
        """Create a ``pending`` payment of a saved payment method for an order."""
        principal = principal_of(request)
        whose = acting_customer(principal, body.customer_id)
        # No scoping read of the method first: the service refuses another customer's
        # method inside its own unit of work, before it writes anything (one SQL statement
        # fewer per request, bench/api.py). Its refusal is answered exactly as a missing
        # method is, so a customer cannot tell the two apart.
        try:
            payment = service.create_payment(
                customer_id=whose,
                order_id=body.order_id,
                payment_method_id=body.payment_method_id,
                amount=body.amount,
                currency=body.currency,
                capture=body.capture,
                description=body.description,
                metadata=body.metadata,
            )
        except PaymentMethodOwnershipError:
            if not principal.is_staff:
                raise NotFound(METHOD_KIND, body.payment_method_id) from None
            msg = "the payment method belongs to another customer"  # staff may see it
            raise ValidationError(msg, field="payment_method_id") from None
        return json_answer(payment_out(payment), status_code=201)

    @router.get("/{payment_id}/", response_model=PaymentOut, responses=_PROBLEMS)
    def get_payment(request: Request, payment_id: str) -> Response:
        """One payment."""
        return json_answer(payment_out(visible_payment(service, principal_of(request), payment_id)))

    @router.get("/{payment_id}/status/", response_model=StatusOut, responses=_PROBLEMS)
    def get_status(request: Request, payment_id: str) -> Response:
        """Only the status of a payment."""
        payment = visible_payment(service, principal_of(request), payment_id)
        return json_answer(StatusOut(id=payment.id, status=str(payment.status)))

    @router.post("/{payment_id}/process/", response_model=PaymentOut, responses=_PROBLEMS)
    def process_payment(
        request: Request, payment_id: str, body: OptionalProcess = None
    ) -> Response:
        """Submit a pending payment to its provider; the answer says what became of it."""
        visible_payment(service, principal_of(request), payment_id)
        options = body or ProcessRequest()
        payment = service.process_payment(
            payment_id, return_url=options.return_url, off_session=options.off_session
        )
        return json_answer(payment_out(payment))

    @router.post("/{payment_id}/capture/", response_model=PaymentOut, responses=_PROBLEMS)
    def capture_payment(
        request: Request, payment_id: str, body: OptionalCapture = None
    ) -> Response:
        """Capture an authorized payment, all of it or ``amount`` of it."""
        visible_payment(service, principal_of(request), payment_id)
        amount = None if body is None else body.amount
        return json_answer(payment_out(service.capture_payment(payment_id, amount)))

    @router.post("/{payment_id}/void/", response_model=PaymentOut, responses=_PROBLEMS)
    def void_payment(request: Request, payment_id: str) -> Response:
        """Release the hold of an authorized payment."""
        visible_payment(service, principal_of(request), payment_id)
        return json_answer(payment_out(service.void_payment(payment_id)))

    @router.post("/{payment_id}/cancel/", response_model=PaymentOut, responses=_PROBLEMS)
    def cancel_payment(request: Request, payment_id: str) -> Response:
        """Cancel a payment that has taken no money."""
        visible_payment(service, principal_of(request), payment_id)
        return json_answer(payment_out(service.cancel_payment(payment_id)))

    @router.get("/{payment_id}/logs/", response_model=Page[LogEntryOut], responses=_PROBLEMS)
    def get_logs(
        request: Request,
        payment_id: str,
        limit: Limit = DEFAULT_LIMIT,
        starting_after: StartingAfter = None,
        ending_before: EndingBefore = None,
    ) -> Response:
        """The payment's audit log, oldest entry first."""
        visible_payment(service, principal_of(request), payment_id)
        entries = service.get_transaction_log(payment_id)
        data, more = page_of(entries, Cursor(limit, starting_after, ending_before))
        return json_answer(Page(data=[log_entry_out(e) for e in data], has_more=more))


def add_webhook_routes(
    router: APIRouter, service: PaymentService, route_class: type[APIRoute]
) -> None:
    """``POST /webhooks/{provider}/``: signed, not authenticated (``route_class`` skips that)."""

    async def receive_webhook(request: Request, provider: str) -> Response:
        """Verify, record once and apply a provider's event; answer as the provider expects."""
        body = await request.body()
        result = await run_in_threadpool(
            service.handle_webhook, provider, dict(request.headers), body
        )
        return Response(result.body, status_code=result.status_code, media_type="text/plain")

    router.add_api_route(
        "/webhooks/{provider}/",
        receive_webhook,
        methods=["POST"],
        response_class=Response,
        responses=_WEBHOOK_ANSWERS,
        route_class_override=route_class,
    )


def _visible_payments(service: PaymentService, principal: Principal) -> list[Payment]:
    if principal.is_staff:
        return service.list_payments()
    return service.list_payments(customer_id=principal.customer_id)


def _created_within(payment: Payment, since: datetime | None, until: datetime | None) -> bool:
    return (since is None or payment.created_at >= since) and (
        until is None or payment.created_at <= until
    )
