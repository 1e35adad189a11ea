"""Analytics on hand-built histories: every figure checked against a number worked out by hand.

The helpers here (``hand_history``, ``check_hand_figures``, ``fraud_history``,
``check_fraud_figures``, ``dst_history``, ``check_dst_buckets``) are reused by
tests/integration/sql/test_sql_analytics.py, so SQLite and PostgreSQL are held to the same
exact figures as memory.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from paykit.analytics import Analytics, AnalyticsQuery, GroupKey
from paykit.analytics._seed import History
from paykit.domain.dispute import DisputeStatus
from paykit.domain.payment import PaymentStatus
from paykit.domain.payment_method import PaymentMethodType
from paykit.domain.risk import FRAUD_BLOCKED, ReviewState, RiskAction
from paykit.storage.base import Storage
from paykit.storage.memory import InMemoryStorage

T = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
_S = PaymentStatus


def hand_history() -> History:
    """Six USD payments, one EUR payment and one GBP payment that never went anywhere."""
    h = History()
    p1 = h.payment(created_at=T, amount="100.00")
    duplicate = h.refund(p1, "30.00", after=timedelta(hours=2), reason="duplicate")
    h.automate(duplicate, "duplicate_charge")
    p2 = h.payment(created_at=T, amount="50.00", provider="stripe", attempts=2, three_ds=True)
    h.dispute(p2, "50.00", DisputeStatus.LOST)
    h.payment(
        created_at=T,
        status=_S.FAILED,
        amount="80.00",
        provider="stripe",
        decline_code="card_declined",
        three_ds=True,
    )
    h.payment(
        created_at=T,
        status=_S.FAILED,
        amount="20.00",
        provider="paypal",
        method=PaymentMethodType.PAYPAL,
        decline_code="insufficient_funds",
    )
    h.payment(created_at=T, status=_S.CANCELLED, amount="40.00", three_ds=True)  # abandoned
    h.payment(created_at=T, status=_S.PENDING, amount="10.00")
    p7 = h.payment(created_at=T, amount="10.00", currency="EUR", provider="paypal")
    h.dispute(p7, "10.00", DisputeStatus.WON)
    h.payment(created_at=T, status=_S.PENDING, amount="5.00", currency="GBP")
    return h


def fraud_history() -> History:
    """Five USD payments, four of them screened: a block, two reviews and an allowed dispute."""
    h = History()
    blocked = h.payment(
        created_at=T, status=_S.FAILED, amount="500.00", attempts=0, decline_code=FRAUD_BLOCKED
    )
    h.screen(blocked, RiskAction.BLOCK)
    approved = h.payment(created_at=T, amount="60.00")
    h.screen(approved, RiskAction.REVIEW, ReviewState.APPROVED)
    rejected = h.payment(created_at=T, status=_S.CANCELLED, amount="70.00")  # voided on reject
    h.screen(rejected, RiskAction.REVIEW, ReviewState.REJECTED)
    allowed = h.payment(created_at=T, amount="80.00")
    h.screen(allowed, RiskAction.ALLOW)
    h.dispute(allowed, "80.00", DisputeStatus.LOST)
    h.payment(created_at=T, status=_S.FAILED, amount="20.00", decline_code="card_declined")
    return h


def check_fraud_figures(storage: Storage) -> None:
    """The fraud figures of :func:`fraud_history`, and a success rate that leaves blocks out."""
    fraud_history().save(storage)

    (usd,) = Analytics(storage).payments()

    assert (usd.created, usd.completed, usd.failed, usd.cancelled) == (5, 2, 2, 1)
    assert (usd.screened, usd.fraud_blocked, usd.fraud_reviewed) == (4, 1, 2)
    assert (usd.reviews_approved, usd.reviews_rejected) == (1, 1)
    assert usd.disputes_on_allowed == 1
    assert usd.block_rate == Decimal("0.25")
    assert usd.review_rate == Decimal("0.5")
    # 2 completed over 2 completed + 2 failed - 1 blocked: the block was no provider's decline.
    assert usd.success_rate == Decimal("0.666667")
    assert usd.attempted_amount == Decimal("230.00")  # the blocked 500.00 was never attempted
    codes = Analytics(storage).declines()  # declines by code still list the block
    assert sorted(d.key.decline_code or "" for d in codes) == ["card_declined", FRAUD_BLOCKED]


def check_hand_figures(storage: Storage) -> None:
    """The figures of :func:`hand_history`, worked out by hand."""
    hand_history().save(storage)
    analytics = Analytics(storage)
    eur, gbp, usd = analytics.payments()
    assert usd.key == GroupKey("USD")
    assert (usd.created, usd.processed, usd.completed, usd.failed, usd.cancelled) == (6, 5, 2, 2, 1)
    assert usd.attempted_amount == Decimal("290.00")
    assert usd.captured_amount == Decimal("150.00")
    assert usd.failed_amount == Decimal("100.00")
    assert usd.refunded_amount == Decimal("30.00")
    assert usd.chargeback_amount == Decimal("50.00")
    assert usd.net_revenue == Decimal("70.00")
    assert usd.average_order_value == Decimal("75.00")
    assert usd.success_rate == Decimal("0.5")  # 2 / (2 + 2); the abandoned 3DS is not counted
    assert usd.first_attempt_success_rate == Decimal("0.25")
    assert (usd.three_ds, usd.three_ds_completed, usd.three_ds_abandoned) == (3, 1, 1)
    assert usd.three_ds_rate == Decimal("0.6")
    assert usd.three_ds_completion_rate == Decimal("0.333333")
    assert usd.refund_count == 1
    assert (usd.automated_refunds, usd.manual_refunds) == (1, 0)
    assert usd.automated_refunded_amount == Decimal("30.00")
    assert usd.refund_rate == Decimal("0.2")
    assert usd.average_time_to_refund == timedelta(hours=2)
    assert (usd.disputes, usd.disputes_won, usd.disputes_lost) == (1, 0, 1)
    assert usd.dispute_lost_amount == Decimal("50.00")
    assert usd.dispute_rate == Decimal("0.5")

    assert eur.key == GroupKey("EUR")
    assert eur.success_rate == Decimal(1)
    assert eur.three_ds_rate == Decimal(0)
    assert eur.three_ds_completion_rate is None  # no 3-D Secure at all: absent, not 0 %
    assert eur.average_time_to_refund is None
    assert (eur.automated_refunds, eur.automated_refunded_amount) == (0, Decimal("0.00"))
    assert (eur.disputes, eur.disputes_won, eur.dispute_rate) == (1, 1, Decimal(1))

    # Nothing completed or failed: every rate is absent, the amounts are zero.
    assert (gbp.created, gbp.processed) == (1, 0)
    assert gbp.success_rate is None
    assert gbp.first_attempt_success_rate is None
    assert gbp.three_ds_rate is None
    assert gbp.average_order_value is None
    assert gbp.refund_rate is None
    assert gbp.dispute_rate is None
    assert gbp.net_revenue == Decimal("0.00")

    by_provider = analytics.payments(AnalyticsQuery(by=("provider",), currency="USD"))
    assert [(r.key.provider, r.completed, r.failed, r.success_rate) for r in by_provider] == [
        ("paypal", 0, 1, Decimal(0)),
        ("sandbox", 1, 0, Decimal(1)),
        ("stripe", 1, 1, Decimal("0.5")),
    ]
    declines = analytics.declines(AnalyticsQuery(currency="USD"))
    assert [(d.key.decline_code, d.count, d.amount, d.share) for d in declines] == [
        ("card_declined", 1, Decimal("80.00"), Decimal("0.5")),
        ("insufficient_funds", 1, Decimal("20.00"), Decimal("0.5")),
    ]
    (reason,) = analytics.refunds_by_reason()
    assert (reason.key, reason.reason, reason.count, reason.amount) == (
        GroupKey("USD"),
        "duplicate",
        1,
        Decimal("30.00"),
    )
    assert reason.average_time_to_refund == timedelta(hours=2)
    by_status = analytics.payments(AnalyticsQuery(by=("status",), currency="USD"))
    assert {r.key.status: r.created for r in by_status} == {
        "cancelled": 1,
        "completed": 1,
        "failed": 2,
        "partially_refunded": 1,
        "pending": 1,
    }


PARIS = ZoneInfo("Europe/Paris")


def dst_history() -> History:
    """Payments either side of midnight in Paris around the 2024-03-31 change to summer time."""
    h = History()
    for when in (
        datetime(2024, 3, 30, 22, 59, 59, tzinfo=UTC),  # 23:59:59 CET, 30 March
        datetime(2024, 3, 30, 23, 0, tzinfo=UTC),  # 00:00 CET, 31 March
        datetime(2024, 3, 31, 21, 59, tzinfo=UTC),  # 23:59 CEST, 31 March
        datetime(2024, 3, 31, 22, 0, tzinfo=UTC),  # 00:00 CEST, 1 April (23:00 at CET)
    ):
        h.payment(created_at=when, currency="EUR", amount="10.00")
    return h


def check_dst_buckets(storage: Storage) -> None:
    """Day buckets in Paris follow the local calendar across the change; UTC ones do not."""
    dst_history().save(storage)
    analytics = Analytics(storage)
    paris = analytics.payments(AnalyticsQuery(by=("day",), time_zone="Europe/Paris"))
    assert [(r.key.bucket, r.created) for r in paris] == [
        (datetime(2024, 3, 30, tzinfo=PARIS), 1),
        (datetime(2024, 3, 31, tzinfo=PARIS), 2),
        (datetime(2024, 4, 1, tzinfo=PARIS), 1),
    ]
    assert paris[1].key.bucket is not None
    assert paris[1].key.bucket.utcoffset() == timedelta(hours=1)  # midnight was still CET
    utc = analytics.payments(AnalyticsQuery(by=("day",)))
    assert [(r.key.bucket, r.created) for r in utc] == [
        (datetime(2024, 3, 30, tzinfo=ZoneInfo("UTC")), 2),
        (datetime(2024, 3, 31, tzinfo=ZoneInfo("UTC")), 2),
    ]
    hours = analytics.payments(AnalyticsQuery(by=("hour",), time_zone="Europe/Paris"))
    assert [r.key.bucket for r in hours] == [
        datetime(2024, 3, 30, 23, tzinfo=PARIS),
        datetime(2024, 3, 31, 0, tzinfo=PARIS),
        datetime(2024, 3, 31, 23, tzinfo=PARIS),
        datetime(2024, 4, 1, 0, tzinfo=PARIS),
    ]
    weeks = analytics.payments(AnalyticsQuery(by=("week",), time_zone="Europe/Paris"))
    assert [(r.key.bucket, r.created) for r in weeks] == [
        (datetime(2024, 3, 25, tzinfo=PARIS), 3),  # Monday 25 March
        (datetime(2024, 4, 1, tzinfo=PARIS), 1),
    ]
    months = analytics.payments(AnalyticsQuery(by=("month",), time_zone="Europe/Paris"))
    assert [(r.key.bucket, r.created) for r in months] == [
        (datetime(2024, 3, 1, tzinfo=PARIS), 3),
        (datetime(2024, 4, 1, tzinfo=PARIS), 1),
    ]
    # The range is half open, on created_at.
    ranged = analytics.payments(
        AnalyticsQuery(
            since=datetime(2024, 3, 30, 23, tzinfo=UTC), until=datetime(2024, 3, 31, 22, tzinfo=UTC)
        )
    )
    assert [r.created for r in ranged] == [2]


def test_fraud_figures_in_memory() -> None:
    """Blocked, reviewed, approved, rejected and disputes on allowed payments, in memory."""
    check_fraud_figures(InMemoryStorage())


def test_without_screening_the_fraud_figures_are_zero_and_their_rates_absent() -> None:
    """A host that does not screen sees 0 screened and no block or review rate."""
    storage = InMemoryStorage()
    hand_history().save(storage)
    for row in Analytics(storage).payments():
        assert (row.screened, row.fraud_blocked, row.fraud_reviewed) == (0, 0, 0)
        assert row.block_rate is None
        assert row.review_rate is None


def test_hand_figures_in_memory() -> None:
    """The figures worked out by hand."""
    check_hand_figures(InMemoryStorage())


def test_day_buckets_at_a_dst_change_in_memory() -> None:
    """Local buckets either side of a change to summer time."""
    check_dst_buckets(InMemoryStorage())


def test_an_empty_store_has_no_rows() -> None:
    """No payments, no rows (not a row of zeros)."""
    analytics = Analytics(InMemoryStorage())
    assert analytics.payments() == []
    assert analytics.declines() == []
    assert analytics.refunds_by_reason() == []


def test_the_query_refuses_what_it_cannot_answer() -> None:
    """Two time buckets, naive datetimes, unknown zones and dimensions are refused."""
    with pytest.raises(ValueError, match="at most one time bucket"):
        AnalyticsQuery(by=("day", "week"))
    with pytest.raises(ValueError, match="naive"):
        AnalyticsQuery(since=datetime(2024, 1, 1))  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus_Mons'"):
        AnalyticsQuery(time_zone="Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="unknown time zone 'America'"):  # a folder of zones
        AnalyticsQuery(time_zone="America")
    with pytest.raises(ValueError, match="fortnight"):
        AnalyticsQuery(by=("fortnight",))
    with pytest.raises(TypeError, match="InMemoryStorage or SqlStorage"):
        Analytics(object()).payments()  # type: ignore[arg-type]


def test_query_builder_matches_the_record() -> None:
    """``Analytics.query`` builds the same record."""
    built = Analytics.query(by=["provider", "day"], currency="USD", time_zone="Europe/Paris")
    assert built == AnalyticsQuery(by=("provider", "day"), currency="USD", time_zone="Europe/Paris")
    assert built.time_dimension == "day"
