"""Analytics in the database agree with analytics in memory, to the cent and the bucket.

Every test runs on SQLite and on PostgreSQL (skipped, with the reason shown, without
``PAYKIT_TEST_POSTGRES_URL``): the exact hand-worked figures of tests/unit/test_analytics.py,
and hypothesis drawing small random histories and queries that must give the same records
in memory and in the database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from test_analytics import check_dst_buckets, check_fraud_figures, check_hand_figures

from paykit.analytics import Analytics, AnalyticsQuery, Dimension
from paykit.analytics._seed import random_history
from paykit.analytics._sql import payment_statement, three_ds_statement
from paykit.storage.memory import InMemoryStorage
from paykit.storage.sql import SqlStorage

from .test_sql_storage import QueryPlans

START = datetime(2024, 3, 25, tzinfo=UTC)  # a week before and after Europe's summer time


def test_hand_figures(sql_storage: SqlStorage) -> None:
    """The figures worked out by hand, from the database."""
    check_hand_figures(sql_storage)


def test_fraud_figures(sql_storage: SqlStorage) -> None:
    """Blocked, reviewed and disputes on allowed payments, from the database."""
    check_fraud_figures(sql_storage)


def test_day_buckets_at_a_dst_change(sql_storage: SqlStorage) -> None:
    """Local day, hour, week and month buckets either side of a change to summer time."""
    check_dst_buckets(sql_storage)


def test_rows_are_grouped_in_the_database(sql_storage: SqlStorage) -> None:
    """One statement with GROUP BY: the database returns groups, not payments."""
    query = AnalyticsQuery(by=("provider", "day"))
    sql = str(payment_statement(sql_storage, query).compile(sql_storage.engine))
    assert "GROUP BY" in sql
    random_history(3, 200, START, days=2).save(sql_storage)
    rows = Analytics(sql_storage).payments(query)
    assert sum(r.created for r in rows) == 200
    assert len(rows) < 60  # 3 currencies x 4 providers x 2-3 days at most


def _clear(storage: SqlStorage) -> None:
    t = storage.tables
    with storage.engine.begin() as connection:
        for table in (
            t.automation_actions,
            t.risk_assessments,
            t.transaction_log,
            t.disputes,
            t.refunds,
            t.payments,
        ):
            connection.execute(delete(table))


_DIMENSIONS = st.lists(
    st.sampled_from(
        [Dimension.PROVIDER, Dimension.METHOD, Dimension.STATUS, Dimension.DECLINE_CODE]
    ),
    unique=True,
    max_size=2,
)
_TIME = st.sampled_from([None, Dimension.HOUR, Dimension.DAY, Dimension.WEEK, Dimension.MONTH])
_ZONE = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])


def test_the_three_ds_figures_read_only_the_partial_index(
    sql_storage_of_its_own: SqlStorage,
) -> None:
    """The payments asked for 3-D Secure come from ``ix_transaction_log_three_ds``.

    Without it the report reads the whole transaction log, several entries per payment.
    """
    storage = sql_storage_of_its_own
    plans = QueryPlans(storage.engine)
    with storage.engine.connect() as connection:
        connection.execute(three_ds_statement(storage, AnalyticsQuery(by=("day",))))

    [plan] = plans.plans
    assert "ix_transaction_log_three_ds" in plan, plan


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(0, 30),
    dims=_DIMENSIONS,
    time=_TIME,
    zone=_ZONE,
    currency=st.sampled_from([None, "USD", "JPY"]),
    window=st.one_of(st.none(), st.tuples(st.integers(0, 10), st.integers(1, 10))),
)
def test_memory_and_the_database_agree(  # noqa: PLR0913, PLR0917 - one per drawn value
    sql_storage: SqlStorage,
    seed: int,
    size: int,
    dims: list[Dimension],
    time: Dimension | None,
    zone: str,
    currency: str | None,
    window: tuple[int, int] | None,
) -> None:
    """A random history and query: the same records in memory and in the database."""
    history = random_history(seed, size, START, days=14)
    memory = InMemoryStorage()
    history.save(memory)
    _clear(sql_storage)
    history.save(sql_storage)
    since = until = None
    if window is not None:
        since = START + timedelta(days=window[0], hours=window[0])
        until = since + timedelta(days=window[1])
    by = (*dims, *([time] if time else []))
    query = AnalyticsQuery(by=by, time_zone=zone, currency=currency, since=since, until=until)
    expected = Analytics(memory)
    actual = Analytics(sql_storage)
    assert actual.payments(query) == expected.payments(query)
    assert actual.declines(query) == expected.declines(query)
    assert actual.refunds_by_reason(query) == expected.refunds_by_reason(query)
    assert actual.overview(query).payments == expected.payments(query)
