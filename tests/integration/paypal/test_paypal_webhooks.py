"""PayPal webhooks: verified through PayPal's API or offline, then normalised for paykit."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from _paypal_support import (
    NOW,
    WEBHOOK_ID,
    charge_request,
    check,
    make_fake,
    make_gateway,
    payment_lookup,
    refund_request,
    schemas,
    usd,
    validating,
    vault_charge,
    void_request,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from paykit.domain.dispute import DisputeStatus
from paykit.errors import (
    GatewayConfigurationError,
    GatewayError,
    ValidationError,
    WebhookSignatureError,
)
from paykit.gateways import GatewayOutcome, WebhookEventType, WebhookGateway
from paykit.gateways.paypal import PayPalGateway
from paykit.gateways.paypal._webhooks import allowed_cert_url, default_roots
from paykit.testing.fake_paypal import FakePayPal, Fault, WebhookSigner

_O = GatewayOutcome
_E = WebhookEventType


def _paid(gateway: PayPalGateway, **kw: Any) -> str:
    result = gateway.charge(vault_charge(**kw))
    assert result.provider_id
    return result.provider_id


def _capture_event(fake: FakePayPal, gateway: PayPalGateway) -> tuple[dict[str, str], bytes]:
    order_id = _paid(gateway)
    event = fake.event(
        "PAYMENT.CAPTURE.COMPLETED", fake.capture_of(order_id), resource_type="capture"
    )
    return fake.sign_webhook(event)


def _offline(fake: FakePayPal, **kw: Any) -> PayPalGateway:
    kw.setdefault("webhook_trust_roots", [fake.signer.root_pem])
    return make_gateway(fake=fake, webhook_verification="offline", **kw)


# -- verification through PayPal's API ---------------------------------------------------------


def test_api_verification_sends_the_five_headers_the_webhook_id_and_the_raw_event() -> None:
    """The verify call carries the PAYPAL-* headers, the webhook id and the body byte for byte."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    headers, body = _capture_event(fake, gateway)

    event = gateway.parse_webhook(headers, body)

    sent = fake.requests[-1]
    assert sent.path == "/v1/notifications/verify-webhook-signature"
    assert sent.body["webhook_id"] == WEBHOOK_ID
    assert sent.body["transmission_id"] == headers["PAYPAL-TRANSMISSION-ID"]
    assert sent.body["transmission_sig"] == headers["PAYPAL-TRANSMISSION-SIG"]
    assert sent.body["cert_url"] == headers["PAYPAL-CERT-URL"]
    assert sent.body["auth_algo"] == "SHA256withRSA"
    assert sent.body["transmission_time"] == headers["PAYPAL-TRANSMISSION-TIME"]
    assert sent.content.endswith(b'"webhook_event":' + body + b"}")
    assert sent.request_id
    assert event.type is _E.PAYMENT_SUCCEEDED


def test_api_verification_failure_is_a_signature_error() -> None:
    """PayPal's FAILURE (a body changed after signing) raises ``WebhookSignatureError``."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    headers, body = _capture_event(fake, gateway)

    with pytest.raises(WebhookSignatureError, match="does not verify"):
        gateway.parse_webhook(headers, body.replace(b"COMPLETED", b"COMPLETEd", 1))


def test_the_verification_request_id_covers_everything_verified() -> None:
    """Two deliveries differing only in the body get different request ids (no replayed SUCCESS)."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    headers, body = _capture_event(fake, gateway)
    gateway.parse_webhook(headers, body)
    first = fake.requests[-1].request_id
    forged = body.replace(b"COMPLETED", b"COMPLETEd", 1)

    with pytest.raises(WebhookSignatureError):
        gateway.parse_webhook(headers, forged)

    assert fake.requests[-1].request_id != first


@pytest.mark.parametrize("fault", [Fault.error(503), Fault.timeout_after_success()])
def test_paypal_unreachable_is_a_retryable_error(fault: Fault) -> None:
    """When PayPal cannot be asked, the error says so and lets PayPal deliver again."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    headers, body = _capture_event(fake, gateway)
    fake.inject(fault, path="/v1/notifications/verify-webhook-signature")

    with pytest.raises(GatewayError) as raised:
        gateway.parse_webhook(headers, body)

    assert raised.value.retryable
    assert not isinstance(raised.value, WebhookSignatureError)


def test_webhooks_need_a_configured_webhook_id() -> None:
    """Without ``webhook_id`` nothing can be verified: a configuration error."""
    fake = make_fake()
    gateway = make_gateway(fake=fake, webhook_id=None)
    headers, body = _capture_event(fake, gateway)

    with pytest.raises(GatewayConfigurationError, match="webhook_id"):
        gateway.parse_webhook(headers, body)


# -- header checks (both ways) ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["api", "offline"])
def test_missing_headers_are_named(mode: str) -> None:
    """A delivery without some PAYPAL-* headers is refused, naming the missing ones."""
    fake = make_fake()
    gateway = make_gateway(
        fake=fake, webhook_verification=mode, webhook_trust_roots=[fake.signer.root_pem]
    )
    headers, body = _capture_event(fake, gateway)
    del headers["PAYPAL-TRANSMISSION-SIG"]
    del headers["PAYPAL-CERT-URL"]
    before = len(fake.requests)

    with pytest.raises(WebhookSignatureError, match="PAYPAL-TRANSMISSION-SIG, PAYPAL-CERT-URL"):
        gateway.parse_webhook(headers, body)
    assert len(fake.requests) == before


@pytest.mark.parametrize("mode", ["api", "offline"])
@pytest.mark.parametrize("skew", [-301, 301])
def test_stale_or_future_transmissions_are_refused(mode: str, skew: int) -> None:
    """A transmission time more than five minutes away is a replay (or a bad clock)."""
    fake = make_fake()
    gateway = make_gateway(
        fake=fake, webhook_verification=mode, webhook_trust_roots=[fake.signer.root_pem]
    )
    order_id = _paid(gateway)
    event = fake.event(
        "PAYMENT.CAPTURE.COMPLETED", fake.capture_of(order_id), resource_type="capture"
    )
    headers, body = fake.sign_webhook(event, transmission_time=NOW + skew)

    with pytest.raises(WebhookSignatureError, match="away from now"):
        gateway.parse_webhook(headers, body)


def test_headers_are_case_insensitive_and_the_algorithm_is_checked() -> None:
    """Header names may come in any case; an algorithm other than SHA256withRSA is refused."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    headers, body = _capture_event(fake, gateway)
    lower = {key.lower(): value for key, value in headers.items()}
    assert gateway.parse_webhook(lower, body).type is _E.PAYMENT_SUCCEEDED

    with pytest.raises(WebhookSignatureError, match="SHA256withRSA"):
        gateway.parse_webhook({**headers, "PAYPAL-AUTH-ALGO": "SHA1withRSA"}, body)


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"id": "WH-1"}', b'{"id": 1, "event_type": "X", "resource": {}}']
)
def test_bodies_that_are_not_events_are_refused(body: bytes) -> None:
    """A body that is not a PayPal event is refused before PayPal is asked."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    headers, _ = _capture_event(fake, gateway)

    with pytest.raises(WebhookSignatureError, match="not a PayPal event"):
        gateway.parse_webhook(headers, body)


@pytest.mark.parametrize(
    "url",
    [
        "http://api.paypal.com/v1/notifications/certs/CERT-1",
        "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1",
        "https://evil.example/v1/notifications/certs/CERT-1",
        "https://api.paypal.com@evil.example/v1/notifications/certs/CERT-1",
        "https://api.paypal.com:8443/v1/notifications/certs/CERT-1",
        "https://notpaypal.com/v1/notifications/certs/CERT-1",
        "ftp://api.paypal.com/cert",
    ],
)
@pytest.mark.parametrize("mode", ["api", "offline"])
def test_certificates_come_only_from_paypal_hosts(url: str, mode: str) -> None:
    """A PAYPAL-CERT-URL that is not https on a paypal.com host is refused and never fetched."""
    fake = make_fake()
    gateway = make_gateway(
        fake=fake, webhook_verification=mode, webhook_trust_roots=[fake.signer.root_pem]
    )
    headers, body = _capture_event(fake, gateway)
    before = len(fake.requests)

    with pytest.raises(WebhookSignatureError, match="PAYPAL-CERT-URL"):
        gateway.parse_webhook({**headers, "PAYPAL-CERT-URL": url}, body)
    assert len(fake.requests) == before


def test_paypal_hosts_are_allowed() -> None:
    """PayPal's live and sandbox API hosts pass the host check."""
    assert allowed_cert_url("https://api.paypal.com/v1/notifications/certs/CERT-1")
    assert allowed_cert_url("https://api-m.sandbox.paypal.com/v1/notifications/certs/CERT-1")
    assert allowed_cert_url("https://API.PAYPAL.COM:443/v1/notifications/certs/CERT-1")
    assert not allowed_cert_url("not a url at all \x00")


# -- offline verification ------------------------------------------------------------------------


def test_offline_verification_checks_the_signature_without_asking_paypal() -> None:
    """Offline, the certificate is fetched (without credentials) and no verify call is made."""
    fake = make_fake()
    gateway = _offline(fake)
    headers, body = _capture_event(fake, gateway)
    before = len(fake.requests)

    event = gateway.parse_webhook(headers, body)

    new = fake.requests[before:]
    assert [r.url for r in new] == [fake.signer.cert_url]
    assert "authorization" not in new[0].headers
    assert event.type is _E.PAYMENT_SUCCEEDED


def test_offline_certificates_are_cached() -> None:
    """Two deliveries signed by one certificate fetch it once."""
    fake = make_fake()
    gateway = _offline(fake)
    first = _capture_event(fake, gateway)
    second = _capture_event(fake, gateway)

    gateway.parse_webhook(*first)
    gateway.parse_webhook(*second)

    assert sum(r.url == fake.signer.cert_url for r in fake.requests) == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda h, b: (h, b.replace(b"COMPLETED", b"COMPLETEd", 1)),
        lambda h, b: ({**h, "PAYPAL-TRANSMISSION-ID": h["PAYPAL-TRANSMISSION-ID"] + "0"}, b),
        lambda h, b: (
            {**h, "PAYPAL-TRANSMISSION-SIG": "AAAA" + h["PAYPAL-TRANSMISSION-SIG"][4:]},
            b,
        ),
        lambda h, b: ({**h, "PAYPAL-TRANSMISSION-SIG": "not base64!"}, b),
    ],
    ids=["body", "transmission-id", "signature", "garbage-signature"],
)
def test_offline_forgeries_are_refused(change: Any) -> None:
    """Any change to the body, the signed headers or the signature fails offline verification."""
    fake = make_fake()
    gateway = _offline(fake)
    headers, body = change(*_capture_event(fake, gateway))

    with pytest.raises(WebhookSignatureError, match="does not match"):
        gateway.parse_webhook(headers, body)


def test_offline_signature_covers_the_webhook_id() -> None:
    """A delivery signed for another webhook id fails here."""
    fake = make_fake()
    gateway = _offline(fake)
    order_id = _paid(gateway)
    event = fake.event(
        "PAYMENT.CAPTURE.COMPLETED", fake.capture_of(order_id), resource_type="capture"
    )

    with pytest.raises(WebhookSignatureError):
        gateway.parse_webhook(*fake.sign_webhook(event, webhook_id="OTHERWEBHOOK9"))


def _signer_for(fake: FakePayPal, **kw: Any) -> WebhookSigner:
    signer = WebhookSigner.generate(root=fake.signer.root, root_key=fake.signer.root_key, **kw)
    fake.serve_certificate(signer)
    return signer


def _signed(
    fake: FakePayPal, gateway: PayPalGateway, signer: WebhookSigner
) -> tuple[dict[str, str], bytes]:
    order_id = _paid(gateway)
    event = fake.event(
        "PAYMENT.CAPTURE.COMPLETED", fake.capture_of(order_id), resource_type="capture"
    )
    return fake.sign_webhook(event, signer=signer)


def test_an_untrusted_root_is_refused() -> None:
    """A certificate from a CA the gateway does not trust is refused, however well it signs."""
    fake = make_fake()
    stranger = WebhookSigner.generate()
    fake.serve_certificate(stranger)
    gateway = _offline(fake)

    with pytest.raises(WebhookSignatureError, match="trusted root"):
        gateway.parse_webhook(*_signed(fake, gateway, stranger))


def test_the_default_trust_store_does_not_trust_the_fake() -> None:
    """Without configured roots, certifi's roots are used, and the fake's CA is not one of them."""
    fake = make_fake()
    gateway = make_gateway(fake=fake, webhook_verification="offline")
    assert len(default_roots()) > 50

    with pytest.raises(WebhookSignatureError, match="trusted root"):
        gateway.parse_webhook(*_capture_event(fake, gateway))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {
                "not_before": dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                "not_after": dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
            },
            "expired",
        ),
        (
            {
                "not_before": dt.datetime(2099, 1, 1, tzinfo=dt.UTC),
                "not_after": dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
            },
            "not yet valid",
        ),
        ({"leaf_name": "messageverificationcerts.evil.example"}, "paypal.com name"),
    ],
    ids=["expired", "not-yet-valid", "wrong-name"],
)
def test_bad_certificates_are_refused(settings: dict[str, Any], message: str) -> None:
    """An expired, not yet valid or non-PayPal certificate is refused even from a trusted CA."""
    fake = make_fake(clock=lambda: dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp())
    signer = _signer_for(fake, **settings)
    gateway = _offline(fake, clock=lambda: dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp())

    with pytest.raises(WebhookSignatureError, match=message):
        gateway.parse_webhook(*_signed(fake, gateway, signer))


def _intermediate(fake: FakePayPal, *, ca: bool) -> WebhookSigner:
    assert fake.signer.root_key is not None
    now = dt.datetime.now(dt.UTC)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "paykit fake intermediate")])
    middle = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(fake.signer.root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=100))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(fake.signer.root_key, hashes.SHA256())
    )
    leaf_signer = WebhookSigner.generate(root=middle, root_key=key)
    signer = WebhookSigner(
        key=leaf_signer._key,
        certificate=leaf_signer.certificate,
        chain=[leaf_signer.certificate, middle],
        root=fake.signer.root,
        cert_url=leaf_signer.cert_url,
    )
    fake.serve_certificate(signer)
    return signer


def test_a_chain_through_an_intermediate_is_accepted() -> None:
    """A leaf served with its intermediate CA chains to the trusted root."""
    fake = make_fake()
    gateway = _offline(fake)
    signer = _intermediate(fake, ca=True)

    assert gateway.parse_webhook(*_signed(fake, gateway, signer)).type is _E.PAYMENT_SUCCEEDED


def test_an_intermediate_that_is_not_a_ca_is_refused() -> None:
    """A chain through a certificate without the CA flag is refused."""
    fake = make_fake()
    gateway = _offline(fake)
    signer = _intermediate(fake, ca=False)

    with pytest.raises(WebhookSignatureError, match="not a CA"):
        gateway.parse_webhook(*_signed(fake, gateway, signer))


@pytest.mark.parametrize(
    "answer",
    [httpx.Response(404), httpx.Response(200, content=b"not a certificate")],
    ids=["missing", "garbage"],
)
def test_a_certificate_that_cannot_be_had(answer: httpx.Response) -> None:
    """A missing certificate is retryable; one that is not PEM is a signature error."""
    fake = make_fake()
    checked, _ = validating(fake)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/notifications/certs/"):
            return answer
        return checked.handle_request(request)

    gateway = make_gateway(
        httpx.MockTransport(handle),
        webhook_verification="offline",
        webhook_trust_roots=[fake.signer.root_pem],
    )
    headers, body = _capture_event(fake, gateway)
    expected: type[Exception] = GatewayError if answer.status_code == 404 else WebhookSignatureError
    with pytest.raises(expected):
        gateway.parse_webhook(headers, body)


def test_a_lost_certificate_fetch_is_retryable() -> None:
    """A certificate fetch that fails in transport is a retryable error."""
    fake = make_fake()
    gateway = _offline(fake)
    headers, body = _capture_event(fake, gateway)
    fake.inject(Fault.connection_refused(), path="/v1/notifications/certs/")

    with pytest.raises(GatewayError, match="certificate could not be fetched"):
        gateway.parse_webhook(headers, body)


# -- normalisation ------------------------------------------------------------------------------


def _order(gateway: PayPalGateway, *, capture: bool = True) -> str:
    return _paid(gateway, capture=capture)


def _resource(  # noqa: PLR0911 - one return per kind of resource
    kind: str, fake: FakePayPal, gateway: PayPalGateway
) -> tuple[dict[str, Any], str]:
    """A resource of ``kind`` from the fake's state, and the schema that describes it."""
    if kind == "capture":
        return fake.capture_of(_order(gateway)), "payments_payment_v2.json:capture-2"
    if kind == "authorization":
        return fake.authorization_of(
            _order(gateway, capture=False)
        ), "payments_payment_v2.json:authorization-2"
    if kind == "voided-authorization":
        order_id = _order(gateway, capture=False)
        gateway.void(void_request(order_id))
        return fake.authorization_of(order_id), "payments_payment_v2.json:authorization-2"
    if kind == "refund":
        order_id = _order(gateway)
        refund = gateway.refund(refund_request(order_id, "30.00"))
        assert refund.provider_id
        return fake.refund(refund.provider_id), "payments_payment_v2.json:refund"
    if kind == "reversal":
        return fake.reverse(_order(gateway), "25.00"), "payments_payment_v2.json:refund"
    if kind == "approved-order":
        order = gateway.charge(charge_request(payment_id="pay_checkout"))
        assert order.provider_id
        fake.approve(order.provider_id)
        return fake.order(order.provider_id), "checkout_orders_v2.json:order"
    order_id = _order(gateway)
    status = "RESOLVED" if kind == "resolved-dispute" else "OPEN"
    outcome = "RESOLVED_BUYER_FAVOUR" if kind == "resolved-dispute" else None
    return fake.dispute(
        order_id, status=status, outcome=outcome
    ), "customer_disputes_v1.json:dispute"


@pytest.mark.parametrize(
    ("event_type", "kind", "expected", "outcome"),
    [
        ("PAYMENT.CAPTURE.COMPLETED", "capture", _E.PAYMENT_SUCCEEDED, _O.SUCCEEDED),
        ("PAYMENT.CAPTURE.PENDING", "capture", _E.PAYMENT_PROCESSING, _O.SUCCEEDED),
        ("PAYMENT.CAPTURE.DENIED", "capture", _E.PAYMENT_FAILED, _O.DECLINED),
        ("PAYMENT.CAPTURE.DECLINED", "capture", _E.PAYMENT_FAILED, _O.SUCCEEDED),
        ("PAYMENT.CAPTURE.REFUNDED", "refund", _E.REFUND_SUCCEEDED, _O.SUCCEEDED),
        ("PAYMENT.CAPTURE.REVERSED", "reversal", _E.PAYMENT_REFUNDED, _O.SUCCEEDED),
        ("CHECKOUT.ORDER.APPROVED", "approved-order", _E.PAYMENT_PROCESSING, _O.PENDING),
        ("PAYMENT.AUTHORIZATION.CREATED", "authorization", _E.PAYMENT_AUTHORIZED, _O.AUTHORIZED),
        ("PAYMENT.AUTHORIZATION.VOIDED", "voided-authorization", _E.PAYMENT_CANCELED, _O.DECLINED),
        ("CUSTOMER.DISPUTE.CREATED", "dispute", _E.DISPUTE_CREATED, None),
        ("CUSTOMER.DISPUTE.UPDATED", "dispute", _E.DISPUTE_UPDATED, None),
        ("CUSTOMER.DISPUTE.RESOLVED", "resolved-dispute", _E.DISPUTE_CLOSED, None),
        ("BILLING.SUBSCRIPTION.CREATED", "capture", _E.IGNORED, None),
    ],
)
def test_events_are_normalised(
    event_type: str, kind: str, expected: WebhookEventType, outcome: GatewayOutcome | None
) -> None:
    """Each PayPal event type paykit knows maps to its paykit type; the rest are ignored."""
    # The resource comes from the fake's state and is checked against PayPal's schema first.
    # The resource's own status decides ``result``: a capture still COMPLETED in a DECLINED
    # event reads as succeeded, and the state machine sorts out such late news.
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    resource, schema = _resource(kind, fake, gateway)
    spec, name = schema.split(":")
    check(schemas().component(spec, name), resource, f"the {kind} resource")
    resource_type = "refund" if kind == "reversal" else kind.rsplit("-", maxsplit=1)[-1]
    event = fake.event(event_type, resource, resource_type=resource_type)
    check(schemas().component("notifications_webhooks_v1.json", "event"), event, "the event")

    normalised = gateway.parse_webhook(*fake.sign_webhook(event))

    assert isinstance(gateway, WebhookGateway)
    assert normalised.type is expected
    assert normalised.event_id == event["id"]
    assert normalised.provider_type == event_type
    assert normalised.created is not None
    if outcome is None:
        assert normalised.result is None
    else:
        assert normalised.result is not None
        assert normalised.result.outcome is outcome
    if expected is not _E.IGNORED and "dispute" not in kind and kind != "refund":
        assert normalised.provider_payment_id
        assert normalised.payment_id in {"pay_test_1", "pay_checkout"}


@pytest.mark.parametrize("breakdown", [True, False])
def test_a_reversal_reports_the_captures_refunds_in_all(breakdown: bool) -> None:
    """``payment.refunded`` carries the total refunded; the reversal alone when PayPal omits it."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    order_id = _order(gateway)
    gateway.refund(refund_request(order_id, "30.00"))
    reversal = fake.reverse(order_id, "25.00")
    if not breakdown:
        del reversal["seller_payable_breakdown"]
    event = fake.event("PAYMENT.CAPTURE.REVERSED", reversal, resource_type="refund")

    normalised = gateway.parse_webhook(*fake.sign_webhook(event))

    assert normalised.result is not None
    assert normalised.result.amount == usd("55.00" if breakdown else "25.00")
    assert normalised.result.provider_id == order_id
    assert (normalised.provider_payment_id, normalised.payment_id) == (order_id, "pay_test_1")
    assert normalised.provider_refund_id == reversal["id"]
    assert normalised.refund_id is None


def test_dispute_details_are_kept() -> None:
    """A dispute event names paykit's payment, the amount and the outcome; raw has the capture."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    order_id = _order(gateway)
    dispute = fake.dispute(order_id, status="RESOLVED", outcome="RESOLVED_SELLER_FAVOUR")
    event = fake.event("CUSTOMER.DISPUTE.RESOLVED", dispute, resource_type="dispute")

    normalised = gateway.parse_webhook(*fake.sign_webhook(event))

    assert normalised.payment_id == "pay_test_1"
    assert normalised.provider_payment_id is None
    assert normalised.dispute is not None
    assert normalised.dispute.provider_dispute_id == dispute["dispute_id"]
    assert normalised.dispute.status is DisputeStatus.WON
    assert normalised.dispute.provider_status == "RESOLVED"
    assert normalised.dispute.amount == usd("100.00")
    assert normalised.dispute.reason == "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"
    transaction = normalised.raw["resource"]["disputed_transactions"][0]
    assert transaction["seller_transaction_id"] == fake.capture_of(order_id)["id"]


def test_refund_events_name_the_refund_and_failed_refunds_fail() -> None:
    """A refund event carries the refund id; a FAILED refund in it is ``refund.failed``."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    order_id = _paid(gateway)
    refund = gateway.refund(refund_request(order_id, "10.00"))
    assert refund.provider_id
    resource = fake.refund(refund.provider_id)
    failed = {**resource, "status": "FAILED"}

    good = gateway.parse_webhook(
        *fake.sign_webhook(fake.event("PAYMENT.CAPTURE.REFUNDED", resource, resource_type="refund"))
    )
    bad = gateway.parse_webhook(
        *fake.sign_webhook(fake.event("PAYMENT.CAPTURE.REFUNDED", failed, resource_type="refund"))
    )

    assert good.provider_refund_id == refund.provider_id
    assert good.refund_id == "re_test_1"  # paykit's refund id, echoed in custom_id
    assert good.result is not None
    assert str(good.result.amount) == "10.00 USD"
    assert bad.type is _E.REFUND_FAILED


def test_vault_ids_are_not_in_raw() -> None:
    """Stored raw payloads drop vault ids (they charge the payer without them)."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    order = gateway.charge(charge_request(payment_id="pay_checkout"))
    assert order.provider_id
    fake.approve(order.provider_id)
    resource = fake.order(order.provider_id)
    resource["payment_source"]["paypal"]["attributes"] = {
        "vault": {"id": "SECRETVAULT42", "status": "VAULTED", "customer": {"id": "C1"}}
    }
    event = fake.event("CHECKOUT.ORDER.APPROVED", resource, resource_type="checkout-order")

    normalised = gateway.parse_webhook(*fake.sign_webhook(event))

    assert "SECRETVAULT42" not in json.dumps(normalised.raw)
    assert gateway.retrieve_payment(payment_lookup(order.provider_id)).outcome is _O.SUCCEEDED


def _nan(money: dict[str, Any]) -> None:
    money["value"] = "NaN"


@pytest.mark.parametrize(
    ("event_type", "kind", "spoil", "field"),
    [
        (
            "PAYMENT.AUTHORIZATION.CREATED",
            "authorization",
            lambda resource: _nan(resource["amount"]),
            "resource.amount.value",
        ),
        (
            "PAYMENT.CAPTURE.REVERSED",
            "reversal",
            lambda resource: _nan(resource["seller_payable_breakdown"]["total_refunded_amount"]),
            "resource.seller_payable_breakdown.total_refunded_amount.value",
        ),
        (
            "CHECKOUT.ORDER.APPROVED",
            "captured-order",
            lambda resource: _nan(
                resource["purchase_units"][0]["payments"]["captures"][0]["amount"]
            ),
            "resource.purchase_units[0].payments.captures[0].amount.value",
        ),
    ],
    ids=["authorization", "reversal", "order"],
)
def test_events_whose_money_is_not_money_are_refused(
    event_type: str, kind: str, spoil: Any, field: str
) -> None:
    """Each money object paykit reads is checked: one that is not money refuses the event."""
    fake = make_fake()
    gateway = make_gateway(fake=fake)
    if kind == "captured-order":
        resource = fake.order(_order(gateway))
    else:
        resource, _ = _resource(kind, fake, gateway)
    spoil(resource)
    resource_type = "checkout-order" if kind == "captured-order" else kind
    resource_type = "refund" if kind == "reversal" else resource_type
    event = fake.event(event_type, resource, resource_type=resource_type)

    with pytest.raises(ValidationError) as refused:
        gateway.parse_webhook(*fake.sign_webhook(event))

    assert refused.value.field == field
