"""``FakeStripe``: a scripted, in-process Stripe behind ``httpx.MockTransport``.

Test against :class:`~paykit.gateways.stripe.StripeGateway` offline with it::

    from paykit.testing.fake_stripe import FakeStripe, FakeToken, Fault

    fake = FakeStripe()
    gateway = StripeGateway(api_key="sk_test_...", transport=fake.transport)

(``paykit.gateways.stripe`` still re-exports ``FakeStripe``, ``FakeToken`` and ``Fault``, and
imports this module only when one of them is used.)

It answers the part of Stripe's v1 API that :class:`~paykit.gateways.stripe.StripeGateway`
uses -- PaymentIntent create / confirm / capture / cancel / retrieve / search, Refund create /
retrieve / list, PaymentMethod retrieve / attach / detach -- as a small state machine that
honours ``Idempotency-Key`` the way Stripe does: the same key replays the first answer (with
``Idempotent-Replayed: true``); the same key with other parameters is a 400
``idempotency_error``. Behaviour is chosen by the payment method, after Stripe's test ids:

=============================================  ===========================================
payment method                                 what happens
=============================================  ===========================================
``pm_card_visa`` (and any other ``pm_...``)    the charge succeeds (or is authorized)
``pm_card_chargeDeclined``                     402 ``card_declined`` / ``generic_decline``
``pm_card_chargeDeclinedInsufficientFunds``    402 ``card_declined`` / ``insufficient_funds``
``pm_card_authenticationRequired``             ``requires_action`` until
                                               :meth:`FakeStripe.complete_action`;
                                               with ``off_session=true``, 402
                                               ``authentication_required``
``pm_card_refundFail``                         the charge succeeds; its refunds fail
``pm_card_paykitLostAnswer`` (fake only)       the charge happens, its first answer is lost
                                               (``httpx.ReadTimeout``); a retry with the same
                                               key gets the replay
=============================================  ===========================================

:meth:`FakeStripe.inject` scripts faults for the next matching requests, named as everywhere
in paykit's test kit (:class:`~paykit.testing.faults.FaultKind`): ``Fault.connection_refused()``,
``Fault.timeout_after_success()``, ``Fault.dropped_response()`` and ``Fault.error(status,
error_type, ...)``, an error answer in Stripe's shape. Every request is recorded in
:attr:`FakeStripe.requests`, and every movement of money in :attr:`FakeStripe.ledger`.
Objects are built from ``templates`` (Stripe object shapes keyed by ``"payment_intent"``,
``"refund"``, ``"payment_method"``, ``"dispute"``, ``"event"``), overriding only the fields
the fake manages; paykit's own tests pass Stripe's published API fixtures, and small
built-in shapes serve everyone else.

Webhooks: :meth:`FakeStripe.event` wraps an object in a Stripe event and
:meth:`FakeStripe.sign_webhook` signs it with an endpoint secret the way Stripe does.
:meth:`FakeStripe.open_dispute` and :meth:`FakeStripe.update_dispute` play a customer's bank
disputing a payment the fake holds, and return the Dispute as ``charge.dispute.*`` events
carry it::

    dispute = fake.open_dispute(payment_intent_id)                    # needs_response
    headers, body = fake.sign_webhook(
        fake.event("charge.dispute.created", dispute), secret="whsec_..."
    )
    event = gateway.parse_webhook(headers, body)                      # dispute.created
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, Self
from urllib.parse import parse_qsl

import attrs
import httpx
import stripe

from paykit.testing._fake_http import FaultScript, ScriptedFault

__all__ = ["FakeStripe", "FakeToken", "Fault", "LedgerLine", "RecordedRequest"]


class FakeToken:
    """Payment method ids with scripted behaviour (see the module docstring)."""

    SUCCESS: Final = "pm_card_visa"
    DECLINE: Final = "pm_card_chargeDeclined"
    INSUFFICIENT_FUNDS: Final = "pm_card_chargeDeclinedInsufficientFunds"
    AUTHENTICATION_REQUIRED: Final = "pm_card_authenticationRequired"
    REFUND_FAIL: Final = "pm_card_refundFail"
    LOST_ANSWER: Final = "pm_card_paykitLostAnswer"


_DECLINES: Final = {
    FakeToken.DECLINE: ("generic_decline", "Your card was declined."),
    FakeToken.INSUFFICIENT_FUNDS: ("insufficient_funds", "Your card has insufficient funds."),
}

_OFF_SESSION_DECLINE: Final = (
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)

_CARDS: Final = {
    "pm_card_visa": ("visa", "4242", "credit"),
    "pm_card_visa_debit": ("visa", "5556", "debit"),
    "pm_card_mastercard": ("mastercard", "4444", "credit"),
    "pm_card_amex": ("amex", "8431", "credit"),
}


class Fault(ScriptedFault):
    """A failure scripted for a request to :class:`FakeStripe` (hand it to ``fake.inject``).

    :meth:`error` is an error answer in Stripe's shape; the other constructors are every
    fake's (``connection_refused``, ``timeout_after_success``, ``dropped_response``).
    """

    @classmethod
    def error(  # noqa: PLR0913 - the fields of Stripe's error object
        cls,
        status: int,
        error_type: str,
        *,
        code: str | None = None,
        message: str = "Scripted error from the fake Stripe.",
        decline_code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Self:
        """Stripe answers ``status`` with an error object of ``error_type`` (and ``code``).

        Stripe answers instead of acting; the status gives the kind (``rate_limited``,
        ``server_error`` or ``error_response``).
        """
        error: dict[str, Any] = {"type": error_type, "message": message}
        if code is not None:
            error["code"] = code
        if decline_code is not None:
            error["decline_code"] = decline_code
        return cls._answering(status, {"error": error}, headers)


@attrs.frozen
class RecordedRequest:
    """One request the fake received, as the adapter sent it."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str] = attrs.field(repr=False)
    """Lower-cased header names; holds the ``Authorization`` header, so it is not in the repr."""

    @property
    def idempotency_key(self) -> str | None:
        """The ``Idempotency-Key`` header, if any."""
        return self.headers.get("idempotency-key")


@attrs.frozen
class LedgerLine:
    """One movement of money the fake made (amounts in Stripe's integer units)."""

    kind: str
    """``charge``, ``authorization``, ``capture``, ``void``, ``refund`` or ``chargeback`` (a
    lost dispute; ``object_id`` is the Dispute's)."""
    object_id: str
    payment_intent: str
    amount: int
    currency: str


@attrs.frozen
class _Answer:
    status: int
    body: dict[str, Any]
    lose: bool = False


_DEFAULT_TEMPLATES: Final[Mapping[str, Mapping[str, Any]]] = {
    "payment_intent": {
        "object": "payment_intent",
        "amount_details": {"tip": {}},
        "application": None,
        "application_fee_amount": None,
        "payment_method_types": ["card"],
        "receipt_email": None,
        "review": None,
        "setup_future_usage": None,
        "statement_descriptor": None,
        "transfer_group": None,
    },
    "refund": {
        "object": "refund",
        "balance_transaction": None,
        "destination_details": {"type": "card", "card": {"type": "refund"}},
        "receipt_number": None,
        "source_transfer_reversal": None,
        "transfer_reversal": None,
    },
    "payment_method": {
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "card": {
            "brand": "visa",
            "country": "US",
            "exp_month": 12,
            "exp_year": 2034,
            "funding": "credit",
            "last4": "4242",
            "wallet": None,
        },
        "metadata": {},
        "type": "card",
    },
    "dispute": {
        "object": "dispute",
        "balance_transactions": [],
        "evidence": {},
        "evidence_details": {
            "due_by": None,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "metadata": {},
        "payment_method_details": {"card": {"brand": "visa", "network": "visa"}, "type": "card"},
    },
    "event": {
        "object": "event",
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
    },
}

_PASSING_CHECKS: Final = {
    "address_line1_check": "pass",
    "address_postal_code_check": "pass",
    "cvc_check": "pass",
}
"""A Charge's ``payment_method_details.card.checks`` unless :meth:`FakeStripe.set_checks` says."""

_DISPUTE_WINDOW: Final = 7 * 24 * 3600
"""How long the fake gives for evidence (Stripe's deadlines vary by network, often 7-21 days)."""
_DISPUTE_OPEN: Final = frozenset(
    {
        "warning_needs_response",
        "warning_under_review",
        "needs_response",
        "under_review",
        "appeal_needs_response",
        "appeal_under_review",
    }
)
_DISPUTE_STATUSES: Final = _DISPUTE_OPEN | {"warning_closed", "won", "lost", "prevented"}

_SEARCH: Final = re.compile(r"metadata\['(?P<key>[^']+)'\]:'(?P<value>(?:[^'\\]|\\.)*)'")


def _expanded(form: Mapping[str, str]) -> set[str]:
    """What a request asked to expand (``expand[0]=latest_charge``...)."""
    return {value for name, value in form.items() if name.startswith("expand[")}


def _unquote(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _nested(form: Mapping[str, str], name: str) -> dict[str, str]:
    """``metadata[a]=1&metadata[b]=2`` -> ``{"a": "1", "b": "2"}``."""
    prefix = f"{name}["
    return {
        key[len(prefix) : -1]: value
        for key, value in form.items()
        if key.startswith(prefix) and key.endswith("]")
    }


def _error(
    status: int, error_type: str, message: str, *, code: str | None = None, **extra: object
) -> _Answer:
    error: dict[str, Any] = {"type": error_type, "message": message, **extra}
    if code is not None:
        error["code"] = code
    return _Answer(status, {"error": error})


def _missing(kind: str, object_id: str) -> _Answer:
    return _error(
        404,
        "invalid_request_error",
        f"No such {kind}: '{object_id}'",
        code="resource_missing",
        param="id",
    )


class FakeStripe:
    """A scripted Stripe for offline tests and demos (see the module docstring).

    ``api_key``, when given, is the only key accepted (others get a 401). ``templates``
    maps object names to Stripe object shapes the fake starts from.
    """

    def __init__(
        self,
        *,
        templates: Mapping[str, Mapping[str, Any]] | None = None,
        api_key: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._templates = {**_DEFAULT_TEMPLATES, **(templates or {})}
        self._api_key = api_key
        self._clock = clock
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._intents: dict[str, dict[str, Any]] = {}
        self._refunds: dict[str, dict[str, Any]] = {}
        self._disputes: dict[str, dict[str, Any]] = {}
        self._attached: dict[str, str] = {}
        self._replies: dict[str, tuple[tuple[str, str, tuple[tuple[str, str], ...]], _Answer]] = {}
        self._faults = FaultScript("Stripe")
        self.requests: list[RecordedRequest] = []
        """Every request received, in order."""
        self.ledger: list[LedgerLine] = []
        """Every movement of money, in order."""
        self.transport = httpx.MockTransport(self._handle)
        """The transport to hand to ``StripeGateway(transport=...)`` (sync and async)."""
        self._challenged: set[str] = set()
        """Intents created with ``request_three_d_secure=any``: their card is challenged."""
        self.outcomes: dict[str, dict[str, Any]] = {}
        """Radar's ``outcome`` per payment method token (see :meth:`set_outcome`)."""
        self.checks: dict[str, dict[str, str | None]] = {}
        """The card checks of the Charge per payment method token (see :meth:`set_checks`)."""

    def __repr__(self) -> str:
        return f"FakeStripe(intents={len(self._intents)}, refunds={len(self._refunds)})"

    # -- scripting and inspection -------------------------------------------------------

    def inject(
        self, fault: Fault, *, method: str | None = None, path: str | None = None, times: int = 1
    ) -> None:
        """Apply ``fault`` to the next ``times`` requests matching ``method`` and ``path``.

        ``path`` matches as a prefix (``"/v1/payment_intents"`` covers its sub-paths).
        """
        self._faults.add(fault, method=method, path=path, times=times)

    def set_outcome(
        self, token: str, *, risk_level: str = "normal", risk_score: int = 12, **fields: object
    ) -> None:
        """Script the Radar ``outcome`` of charges made with ``token`` (a ``pm_...``).

        Every charge carries an outcome (default: ``normal``, score 12); a request that
        expands ``latest_charge`` gets the Charge with it, as Stripe answers.
        """
        self.outcomes[token] = {"risk_level": risk_level, "risk_score": risk_score, **fields}

    def set_checks(
        self,
        token: str,
        *,
        cvc_check: str | None = "pass",
        address_line1_check: str | None = "pass",
        address_postal_code_check: str | None = "pass",
    ) -> None:
        """Script ``payment_method_details.card.checks`` of charges made with ``token``.

        Stripe's values are ``pass``, ``fail``, ``unavailable`` and ``unchecked``; ``None``
        (JSON null) is a check of something the customer did not give. Every charge carries
        checks (default: all ``pass``).
        """
        self.checks[token] = {
            "address_line1_check": address_line1_check,
            "address_postal_code_check": address_postal_code_check,
            "cvc_check": cvc_check,
        }

    def complete_action(self, payment_intent_id: str, *, succeed: bool = True) -> None:
        """Play the customer finishing (or failing) 3-D Secure on a ``requires_action`` intent."""
        with self._lock:
            intent = self._intents[payment_intent_id]
            if intent["status"] != "requires_action":
                msg = f"{payment_intent_id} is {intent['status']}, not requires_action"
                raise ValueError(msg)
            intent["next_action"] = None
            if succeed:
                self._take(intent)
            else:
                intent["status"] = "requires_payment_method"
                intent["last_payment_error"] = {
                    "type": "invalid_request_error",
                    "code": "payment_intent_authentication_failure",
                    "message": "The provided PaymentMethod has failed authentication.",
                }

    def payment_intent(self, payment_intent_id: str) -> dict[str, Any]:
        """A copy of a PaymentIntent as Stripe would return it."""
        with self._lock:
            return copy.deepcopy(self._intents[payment_intent_id])

    def payment_intents_for(self, payment_id: str) -> list[dict[str, Any]]:
        """Copies of every PaymentIntent whose metadata names paykit's ``payment_id``."""
        with self._lock:
            return [
                copy.deepcopy(intent)
                for intent in self._intents.values()
                if intent["metadata"].get("paykit_payment_id") == payment_id
            ]

    def refund(self, refund_id: str) -> dict[str, Any]:
        """A copy of a Refund as Stripe would return it."""
        with self._lock:
            return copy.deepcopy(self._refunds[refund_id])

    def charged_units(self, payment_id: str) -> int:
        """Everything charged or captured for paykit's ``payment_id``, in Stripe units."""
        return self._total(payment_id, {"charge", "capture"})

    def refunded_units(self, payment_id: str) -> int:
        """Everything refunded for paykit's ``payment_id``, in Stripe units."""
        return self._total(payment_id, {"refund"})

    def charged_back_units(self, payment_id: str) -> int:
        """Everything lost disputes took back for paykit's ``payment_id``, in Stripe units."""
        return self._total(payment_id, {"chargeback"})

    def _total(self, payment_id: str, kinds: set[str]) -> int:
        with self._lock:
            intents = {
                intent_id
                for intent_id, intent in self._intents.items()
                if intent["metadata"].get("paykit_payment_id") == payment_id
            }
            return sum(
                line.amount
                for line in self.ledger
                if line.kind in kinds and line.payment_intent in intents
            )

    def open_dispute(
        self,
        payment_intent_id: str,
        *,
        status: str = "needs_response",
        reason: str = "fraudulent",
        amount: int | None = None,
    ) -> dict[str, Any]:
        """Play the customer's bank disputing the PaymentIntent's charge; return the Dispute.

        ``status`` is where the dispute starts: ``needs_response`` for a chargeback,
        ``warning_needs_response`` for an inquiry (an early warning). ``amount`` (Stripe
        units) defaults to everything the PaymentIntent received. The evidence is due in
        seven days on the fake's clock.
        """
        if status not in _DISPUTE_OPEN:
            msg = f"a dispute opens in one of {sorted(_DISPUTE_OPEN)}, not {status!r}"
            raise ValueError(msg)
        with self._lock:
            intent = self._intents[payment_intent_id]
            if intent["status"] != "succeeded" or not intent["latest_charge"]:
                msg = f"{payment_intent_id} is {intent['status']}: only a paid charge is disputed"
                raise ValueError(msg)
            now = int(self._clock())
            dispute = copy.deepcopy(dict(self._templates["dispute"]))
            details = dict(dispute.get("evidence_details") or {})
            details["due_by"] = now + _DISPUTE_WINDOW
            method = copy.deepcopy(dict(dispute.get("payment_method_details") or {}))
            if isinstance(method.get("card"), Mapping):
                method["card"] = {
                    **method["card"],
                    "case_type": "inquiry" if status.startswith("warning_") else "chargeback",
                }
            dispute.update(
                id=self._new_id("dp"),
                object="dispute",
                amount=intent["amount_received"] if amount is None else amount,
                currency=intent["currency"],
                charge=intent["latest_charge"],
                payment_intent=payment_intent_id,
                created=now,
                evidence_details=details,
                is_charge_refundable=status.startswith("warning_"),
                livemode=False,
                metadata={},
                payment_method_details=method,
                reason=reason,
                status=status,
            )
            self._disputes[dispute["id"]] = dispute
            return copy.deepcopy(dispute)

    def update_dispute(self, dispute_id: str, *, status: str) -> dict[str, Any]:
        """Move a dispute to Stripe's ``status`` (``won``, ``lost``...); return the Dispute.

        The fake checks only that ``status`` is one of Stripe's: a decided dispute stays
        decided at Stripe, but the fake lets a test replay any sequence. Losing books a
        ``chargeback`` in the ledger (once). While a chargeback is open or lost
        (``is_charge_refundable`` false), a refund of the charge is refused with
        ``charge_disputed``, as Stripe refuses it.
        """
        if status not in _DISPUTE_STATUSES:
            msg = f"{status!r} is not one of Stripe's dispute statuses"
            raise ValueError(msg)
        with self._lock:
            dispute = self._disputes[dispute_id]
            if status == "lost" and dispute["status"] != "lost":
                intent = self._intents[dispute["payment_intent"]]
                self._book("chargeback", dispute_id, intent, dispute["amount"])
            dispute["status"] = status
            dispute["is_charge_refundable"] = status.startswith("warning_")
            return copy.deepcopy(dispute)

    def dispute(self, dispute_id: str) -> dict[str, Any]:
        """A copy of a Dispute as Stripe would return it."""
        with self._lock:
            return copy.deepcopy(self._disputes[dispute_id])

    def sign_webhook(
        self, event: Mapping[str, Any], *, secret: str, timestamp: int | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body Stripe would deliver for ``event`` to an endpoint with ``secret``.

        ``Stripe-Signature`` is ``t=<timestamp>,v1=<HMAC-SHA256(secret, "<t>." + body)>``;
        the timestamp is the fake's clock unless given.
        """
        body = json.dumps(event).encode("utf-8")
        stamp = int(self._clock()) if timestamp is None else timestamp
        digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
        headers = {
            "Stripe-Signature": f"t={stamp},v1={digest.hexdigest()}",
            "Content-Type": "application/json; charset=utf-8",
        }
        return headers, body

    def event(self, event_type: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A Stripe ``event`` of ``event_type`` about ``obj`` (unsigned: sign it yourself)."""
        with self._lock:
            event = copy.deepcopy(dict(self._templates["event"]))
            event.update(
                id=self._new_id("evt"),
                object="event",
                type=event_type,
                created=int(self._clock()),
                livemode=False,
                api_version=stripe.api_version,
                data={"object": copy.deepcopy(dict(obj))},
            )
            return event

    # -- the transport ------------------------------------------------------------------

    def _handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            record = self._record(request)
            fault = self._faults.before(request)
            if fault is not None and fault.answered:
                return self._response(
                    record, _Answer(fault.status, dict(fault.body)), extra=fault.headers
                )
            answer, replayed = self._answer(record)
            self._faults.after(request, fault, lost=answer.lose and not replayed)
            return self._response(record, answer, replayed=replayed)

    def _record(self, request: httpx.Request) -> RecordedRequest:
        form = (
            dict(parse_qsl(request.content.decode("utf-8"), keep_blank_values=True))
            if request.method == "POST"
            else {}
        )
        record = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.url.params),
            form=form,
            headers={name.lower(): value for name, value in request.headers.items()},
        )
        self.requests.append(record)
        return record

    def _answer(self, record: RecordedRequest) -> tuple[_Answer, bool]:
        """Route the request, through Stripe's idempotency layer for a POST."""
        auth = record.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or (
            self._api_key is not None and auth != f"Bearer {self._api_key}"
        ):
            return _error(
                401, "invalid_request_error", "Invalid API Key provided: sk_test_****"
            ), False
        key = record.idempotency_key
        if record.method != "POST" or key is None:
            return self._route(record), False
        fingerprint = (record.method, record.path, tuple(sorted(record.form.items())))
        if key in self._replies:
            first, answer = self._replies[key]
            if first != fingerprint:
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                ), False
            return answer, True
        answer = self._route(record)
        if answer.status != 429:  # noqa: PLR2004 - Stripe saves no result for a rate limit
            self._replies[key] = (fingerprint, answer)
        return answer, False

    def _response(
        self,
        record: RecordedRequest,
        answer: _Answer,
        *,
        replayed: bool = False,
        extra: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        headers = {"request-id": self._new_id("req"), **(extra or {})}
        if record.idempotency_key is not None:
            headers["idempotency-key"] = record.idempotency_key
        if replayed:
            headers["idempotent-replayed"] = "true"
        if "stripe-version" in record.headers:
            headers["stripe-version"] = record.headers["stripe-version"]
        return httpx.Response(
            answer.status,
            content=json.dumps(answer.body).encode("utf-8"),
            headers={"content-type": "application/json", **headers},
        )

    # -- the API ------------------------------------------------------------------------

    def _route(self, record: RecordedRequest) -> _Answer:
        for method, pattern, handler in self._routes:
            if method != record.method:
                continue
            match = re.fullmatch(pattern, record.path)
            if match:
                return handler(self, record, *match.groups())
        return _error(
            404,
            "invalid_request_error",
            f"Unrecognized request URL ({record.method}: {record.path}).",
        )

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):08d}"

    def _create_intent(self, record: RecordedRequest) -> _Answer:
        form = record.form
        if not form.get("amount", "").isdigit() or int(form["amount"]) <= 0:
            return _error(
                400,
                "invalid_request_error",
                "This value must be greater than or equal to 1.",
                code="parameter_invalid_integer",
                param="amount",
            )
        if not form.get("currency"):
            return _error(
                400,
                "invalid_request_error",
                "Missing required param: currency.",
                code="parameter_missing",
                param="currency",
            )
        intent_id = self._new_id("pi")
        intent = copy.deepcopy(dict(self._templates["payment_intent"]))
        intent.update(
            id=intent_id,
            object="payment_intent",
            amount=int(form["amount"]),
            amount_capturable=0,
            amount_received=0,
            currency=form["currency"],
            capture_method=form.get("capture_method", "automatic_async"),
            client_secret=f"{intent_id}_secret_{secrets.token_hex(12)}",
            confirmation_method="automatic",
            created=int(self._clock()),
            customer=form.get("customer"),
            description=form.get("description"),
            metadata=_nested(form, "metadata"),
            payment_method=form.get("payment_method"),
            status="requires_payment_method",
            last_payment_error=None,
            next_action=None,
            latest_charge=None,
            canceled_at=None,
            cancellation_reason=None,
            processing=None,
            livemode=False,
            automatic_payment_methods=(
                {"enabled": True, **_nested(form, "automatic_payment_methods")}
                if "automatic_payment_methods[enabled]" in form
                else None
            ),
        )
        self._intents[intent_id] = intent
        if form.get("payment_method_options[card][request_three_d_secure]") == "any":
            self._challenged.add(intent_id)
        if form.get("confirm") != "true":
            if intent["payment_method"]:
                intent["status"] = "requires_confirmation"
            return _Answer(200, copy.deepcopy(intent))
        answer = self._confirm(
            intent, form.get("return_url"), off_session=form.get("off_session") == "true"
        )
        if "latest_charge" in _expanded(form) and answer.status == 200 and intent["latest_charge"]:  # noqa: PLR2004 - HTTP OK
            answer.body["latest_charge"] = self._charge(intent)
        return answer

    def _charge(self, intent: Mapping[str, Any]) -> dict[str, Any]:
        """The Charge of an intent that took (or held) money, with its Radar outcome and checks."""
        token = intent["payment_method"] or ""
        method = self._method(token) or {}
        checks = self.checks.get(token, _PASSING_CHECKS)
        card = {**(method.get("card") or {}), "checks": dict(checks)}
        outcome = {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "risk_score": 12,
            "rule": None,
            "seller_message": "Payment complete.",
            "type": "authorized",
            **self.outcomes.get(token, {}),
        }
        return {
            "id": intent["latest_charge"],
            "object": "charge",
            "amount": intent["amount"],
            "currency": intent["currency"],
            "captured": intent["status"] == "succeeded",
            "payment_intent": intent["id"],
            "payment_method": token,
            "payment_method_details": {"card": card, "type": "card"},
            "outcome": outcome,
            "status": "succeeded",
            "livemode": False,
        }

    def _confirm(
        self, intent: dict[str, Any], return_url: str | None, *, off_session: bool = False
    ) -> _Answer:
        token = intent["payment_method"]
        if not token:
            return _error(
                400,
                "invalid_request_error",
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        needs_customer = off_session and token == FakeToken.AUTHENTICATION_REQUIRED
        if token in _DECLINES or needs_customer:
            # Off-session, a card that wants 3-D Secure is declined: nobody can answer it.
            decline_code, message = _DECLINES.get(token, _OFF_SESSION_DECLINE)
            error = {
                "type": "card_error",
                "code": "authentication_required" if needs_customer else "card_declined",
                "decline_code": decline_code,
                "message": message,
                "charge": self._new_id("ch"),
            }
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = dict(error)
            intent["latest_charge"] = error["charge"]
            return _Answer(402, {"error": {**error, "payment_intent": copy.deepcopy(intent)}})
        if token == FakeToken.AUTHENTICATION_REQUIRED or intent["id"] in self._challenged:
            self._challenged.discard(intent["id"])  # one challenge; the customer answers it
            intent["status"] = "requires_action"
            challenge = f"https://fake-stripe.invalid/3ds/{intent['id']}"
            intent["next_action"] = (
                {
                    "type": "redirect_to_url",
                    "redirect_to_url": {"url": challenge, "return_url": return_url},
                }
                if return_url
                else {
                    "type": "use_stripe_sdk",
                    "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": challenge},
                }
            )
            return _Answer(200, copy.deepcopy(intent))
        self._take(intent)
        return _Answer(200, copy.deepcopy(intent), lose=token == FakeToken.LOST_ANSWER)

    def _take(self, intent: dict[str, Any]) -> None:
        intent["latest_charge"] = self._new_id("ch")
        intent["last_payment_error"] = None
        intent["next_action"] = None
        if intent["capture_method"] == "manual":
            intent["status"] = "requires_capture"
            intent["amount_capturable"] = intent["amount"]
            kind = "authorization"
        else:
            intent["status"] = "succeeded"
            intent["amount_received"] = intent["amount"]
            kind = "charge"
        self._book(kind, intent["id"], intent, intent["amount"])

    def _book(self, kind: str, object_id: str, intent: Mapping[str, Any], amount: int) -> None:
        self.ledger.append(LedgerLine(kind, object_id, intent["id"], amount, intent["currency"]))

    def _confirm_intent(self, record: RecordedRequest, intent_id: str) -> _Answer:
        intent = self._intents.get(intent_id)
        if intent is None:
            return _missing("payment_intent", intent_id)
        if intent["status"] not in ("requires_confirmation", "requires_payment_method"):
            return _unexpected_state(intent, "confirmed", "requires_confirmation")
        if "payment_method" in record.form:
            intent["payment_method"] = record.form["payment_method"]
        return self._confirm(intent, record.form.get("return_url"))

    def _capture_intent(self, record: RecordedRequest, intent_id: str) -> _Answer:
        intent = self._intents.get(intent_id)
        if intent is None:
            return _missing("payment_intent", intent_id)
        if intent["status"] != "requires_capture":
            return _unexpected_state(intent, "captured", "requires_capture")
        amount = int(record.form.get("amount_to_capture", intent["amount_capturable"]))
        if amount > intent["amount_capturable"]:
            return _error(
                400,
                "invalid_request_error",
                "The amount to capture must be less than or equal to the amount_capturable.",
                code="amount_too_large",
                param="amount_to_capture",
            )
        intent["status"] = "succeeded"
        intent["amount_received"] = amount
        intent["amount_capturable"] = 0
        self._book("capture", intent_id, intent, amount)
        return _Answer(200, copy.deepcopy(intent))

    def _cancel_intent(self, record: RecordedRequest, intent_id: str) -> _Answer:
        intent = self._intents.get(intent_id)
        if intent is None:
            return _missing("payment_intent", intent_id)
        cancellable = (
            "requires_payment_method",
            "requires_capture",
            "requires_confirmation",
            "requires_action",
            "processing",
        )
        if intent["status"] not in cancellable:
            return _unexpected_state(intent, "canceled", ", ".join(cancellable))
        if intent["status"] == "requires_capture":
            self._book("void", intent_id, intent, intent["amount_capturable"])
        intent["status"] = "canceled"
        intent["canceled_at"] = int(self._clock())
        intent["cancellation_reason"] = record.form.get("cancellation_reason")
        intent["amount_capturable"] = 0
        intent["next_action"] = None
        return _Answer(200, copy.deepcopy(intent))

    def _get_intent(self, _record: RecordedRequest, intent_id: str) -> _Answer:
        intent = self._intents.get(intent_id)
        if intent is None:
            return _missing("payment_intent", intent_id)
        return _Answer(200, copy.deepcopy(intent))

    def _search_intents(self, record: RecordedRequest) -> _Answer:
        match = _SEARCH.fullmatch(record.query.get("query", ""))
        if match is None:
            return _error(
                400,
                "invalid_request_error",
                "The fake Stripe only understands metadata['key']:'value' queries.",
                code="parameter_invalid_string",
                param="query",
            )
        key, value = match["key"], _unquote(match["value"])
        found = [
            copy.deepcopy(intent)
            for intent in reversed(self._intents.values())
            if intent["metadata"].get(key) == value
        ]
        limit = int(record.query.get("limit", "10"))
        return _Answer(
            200,
            {
                "object": "search_result",
                "data": found[:limit],
                "has_more": len(found) > limit,
                "next_page": None,
                "url": "/v1/payment_intents/search",
            },
        )

    def _refunded(self, intent_id: str) -> int:
        return sum(
            refund["amount"]
            for refund in self._refunds.values()
            if refund["payment_intent"] == intent_id and refund["status"] != "failed"
        )

    def _create_refund(self, record: RecordedRequest) -> _Answer:
        form = record.form
        intent_id = form.get("payment_intent", "")
        intent = self._intents.get(intent_id)
        if intent is None:
            return _missing("payment_intent", intent_id)
        if intent["status"] != "succeeded":
            return _unexpected_state(intent, "refunded", "succeeded")
        if any(
            d["payment_intent"] == intent_id and not d["is_charge_refundable"]
            for d in self._disputes.values()
        ):  # a chargeback: the bank took the money back, so there is nothing to refund
            return _error(
                400,
                "invalid_request_error",
                f"Charge {intent['latest_charge']} has been charged back; cannot issue a refund.",
                code="charge_disputed",
            )
        remaining = intent["amount_received"] - self._refunded(intent_id)
        if remaining <= 0:
            return _error(
                400,
                "invalid_request_error",
                f"Charge {intent['latest_charge']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = int(form.get("amount", remaining))
        if amount > remaining:
            return _error(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge "
                f"({remaining}).",
                code="amount_too_large",
                param="amount",
            )
        refund_id = self._new_id("re")
        refund = copy.deepcopy(dict(self._templates["refund"]))
        fails = intent["payment_method"] == FakeToken.REFUND_FAIL
        refund.update(
            id=refund_id,
            object="refund",
            amount=amount,
            currency=intent["currency"],
            charge=intent["latest_charge"],
            payment_intent=intent_id,
            created=int(self._clock()),
            metadata=_nested(form, "metadata"),
            reason=form.get("reason"),
            status="failed" if fails else "succeeded",
            customer=intent.get("customer"),
            payment_method=intent["payment_method"],
        )
        if fails:
            refund["failure_reason"] = "expired_or_canceled_card"
        else:
            self._book("refund", refund_id, intent, amount)
        self._refunds[refund_id] = refund
        return _Answer(200, copy.deepcopy(refund))

    def _get_refund(self, _record: RecordedRequest, refund_id: str) -> _Answer:
        refund = self._refunds.get(refund_id)
        if refund is None:
            return _missing("refund", refund_id)
        return _Answer(200, copy.deepcopy(refund))

    def _list_refunds(self, record: RecordedRequest) -> _Answer:
        intent_id = record.query.get("payment_intent")
        found = [
            copy.deepcopy(refund)
            for refund in reversed(self._refunds.values())
            if intent_id is None or refund["payment_intent"] == intent_id
        ]
        limit = int(record.query.get("limit", "10"))
        return _Answer(
            200,
            {
                "object": "list",
                "data": found[:limit],
                "has_more": len(found) > limit,
                "url": "/v1/refunds",
            },
        )

    def _method(self, token: str) -> dict[str, Any] | None:
        if not token.startswith("pm_"):
            return None
        method = copy.deepcopy(dict(self._templates["payment_method"]))
        card = dict(method.get("card") or {})
        if token in _CARDS:
            card["brand"], card["last4"], card["funding"] = _CARDS[token]
            card["display_brand"] = card["brand"]
        # Stripe's fingerprint: the same card number gives the same value, whatever the token.
        digest = hashlib.sha256(str(card.get("last4", token)).encode()).hexdigest()
        card.setdefault("fingerprint", f"fp{digest[:14]}")
        method.update(
            id=token,
            object="payment_method",
            type="card",
            card=card,
            livemode=False,
            customer=self._attached.get(token),
        )
        return method

    def _get_method(self, _record: RecordedRequest, token: str) -> _Answer:
        method = self._method(token)
        return _missing("payment_method", token) if method is None else _Answer(200, method)

    def _attach_method(self, record: RecordedRequest, token: str) -> _Answer:
        customer = record.form.get("customer", "")
        if not customer.startswith("cus_"):
            return _missing("customer", customer)
        if self._method(token) is None:
            return _missing("payment_method", token)
        self._attached[token] = customer
        return _Answer(200, self._method(token) or {})

    def _detach_method(self, _record: RecordedRequest, token: str) -> _Answer:
        if self._method(token) is None:
            return _missing("payment_method", token)
        if token not in self._attached:
            return _error(
                400,
                "invalid_request_error",
                "The payment method you provided is not attached to a customer so detachment "
                "is impossible.",
                code="payment_method_unexpected_state",
            )
        del self._attached[token]
        return _Answer(200, self._method(token) or {})

    _routes: Final[list[tuple[str, str, Callable[..., _Answer]]]] = [
        ("POST", r"/v1/payment_intents", _create_intent),
        ("GET", r"/v1/payment_intents/search", _search_intents),
        ("GET", r"/v1/payment_intents/([^/]+)", _get_intent),
        ("POST", r"/v1/payment_intents/([^/]+)/confirm", _confirm_intent),
        ("POST", r"/v1/payment_intents/([^/]+)/capture", _capture_intent),
        ("POST", r"/v1/payment_intents/([^/]+)/cancel", _cancel_intent),
        ("POST", r"/v1/refunds", _create_refund),
        ("GET", r"/v1/refunds", _list_refunds),
        ("GET", r"/v1/refunds/([^/]+)", _get_refund),
        ("GET", r"/v1/payment_methods/([^/]+)", _get_method),
        ("POST", r"/v1/payment_methods/([^/]+)/attach", _attach_method),
        ("POST", r"/v1/payment_methods/([^/]+)/detach", _detach_method),
    ]


def _unexpected_state(intent: Mapping[str, Any], verb: str, allowed: str) -> _Answer:
    return _error(
        400,
        "invalid_request_error",
        f"This PaymentIntent could not be {verb} because it has a status of "
        f"{intent['status']}. Only a PaymentIntent with one of the following statuses may be "
        f"{verb}: {allowed}.",
        code="payment_intent_unexpected_state",
        payment_intent=copy.deepcopy(dict(intent)),
    )
