"""django-payments' side of bench/peers.py: paykit's benchmark lifecycle through its DummyProvider.

bench/peers.py runs this file with the interpreter of a throwaway virtual environment it
builds (Django 5.2, django-payments 4.1.0, psycopg); it never imports paykit, and paykit's
environment need not have django-payments. One process per store:

* ``argv[1]`` is a JSON object: ``{"engine": "sqlite", "path": FILE}`` or ``{"engine":
  "postgresql", "name": ..., "user": ..., "password": ..., "host": ..., "port": ...,
  "schema": SCHEMA}`` (the schema exists, is empty, and is dropped by the caller).
* It configures Django by hand (no project), creates its one table with the schema editor,
  runs one lifecycle that reads the row back after each step (the ``check`` in its first
  answer), and answers ``{"ready": ...}`` on one line of standard output.
* Then each line ``run COUNT TAG`` on standard input runs COUNT lifecycles and answers one
  line ``{"seconds": ..., "statements": ..., "commits": ...}``; ``quit`` (or the end of
  input) closes the connection and exits.

One lifecycle is the equivalent of paykit's create, process, refund 30.00, refund 20.00:

1. ``Payment.objects.create(...)``: ``BasePayment.save`` first checks that its new random
   token is unused (``SELECT ... LIMIT 1``), then ``INSERT``.
2. ``change_status(PREAUTH)``: the provider's answer recorded (one ``UPDATE`` of status
   and message), as DummyProvider's form does when the buyer authorises.
3. ``capture(total)``: DummyProvider.capture calls ``change_status(CONFIRMED)`` and
   ``BasePayment.capture`` calls it again (two ``UPDATE`` s of status and message; neither
   writes ``captured_amount``, which stays 0.00 in the row until the next full save).
4. ``refund(30.00)`` and ``refund(20.00)``: each a full-row ``UPDATE`` (``save()``).

Every write runs in Django's autocommit mode, so each is its own transaction: 1 read and
6 writes, 7 statements and 6 commits. Nothing is written *before* a provider call, no
refund is recorded as a row of its own, and nothing is logged; the instance stays in memory
across the steps, as one request would hold it (paykit re-reads by id at each call).

Statements are counted with Django's ``connection.execute_wrapper`` (everything Django sends
through a cursor, ``BEGIN`` on SQLite included); commits are the writes run in autocommit
mode plus the ``COMMIT`` of any ``atomic`` block (psycopg's implicit ``BEGIN`` and every
``COMMIT`` are added to the statements, as they are round trips Django does not show).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

import django
from django.conf import settings
from django.db import connection, models, transaction
from django.db.backends.signals import connection_created

_WRITES: Final = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE"})
_ORDER_TOTAL: Final = Decimal("100.00")
_REFUNDS: Final = (Decimal("30.00"), Decimal("20.00"))


def configure(store: dict[str, Any]) -> None:
    """Settings for one database, django-payments' DummyProvider, and no project."""
    if store["engine"] == "sqlite":
        database: dict[str, Any] = {"ENGINE": "django.db.backends.sqlite3", "NAME": store["path"]}
    else:
        database = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": store["name"],
            "USER": store["user"],
            "PASSWORD": store["password"],
            "HOST": store["host"],
            "PORT": store["port"],
            # The table lives in the caller's schema for this side, and only there.
            "OPTIONS": {"options": f"-c search_path={store['schema']}"},
        }
    settings.configure(
        DATABASES={"default": database},
        INSTALLED_APPS=["payments"],
        PAYMENT_HOST="localhost:8000",
        PAYMENT_USES_SSL=False,
        PAYMENT_VARIANTS={"default": ("payments.dummy.DummyProvider", {})},
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    connection_created.connect(_sqlite_pragmas)
    django.setup()


def _sqlite_pragmas(sender: object, connection: Any, **_: object) -> None:  # noqa: ANN401 - Django's wrapper
    """WAL and synchronous FULL, as paykit's SQLite runs (on the driver, so never counted)."""
    del sender
    if connection.vendor == "sqlite":
        connection.connection.execute("PRAGMA journal_mode = WAL")
        connection.connection.execute("PRAGMA synchronous = FULL")


def payment_model() -> type[models.Model]:
    """The application's payment model: ``BasePayment`` and the two URLs it asks for."""
    # django-payments reads the settings when it is imported, so only after configure().
    # paykit's own environment (which type-checks this file) has no django-payments: the
    # import is then untyped, and the model subclasses Any; with it installed, both ignores
    # are unused, which the second code allows.
    from payments.models import BasePayment  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415

    class Payment(BasePayment):  # type: ignore[misc, unused-ignore]
        class Meta:
            app_label = "bench_peer"

        def get_failure_url(self) -> str:
            return "https://shop.example/failure"

        def get_success_url(self) -> str:
            return "https://shop.example/success"

    model: type[models.Model] = Payment
    return model


class Counter:
    """An ``execute_wrapper``: counts statements and commits (see the module docstring)."""

    def __init__(self) -> None:
        self.statements = 0
        self.commits = 0
        self._in_transaction = False

    def __call__(
        self,
        execute: Callable[[str, Any, bool, dict[str, Any]], Any],
        sql: str,
        params: Any,  # noqa: ANN401 - whatever the query carries
        many: bool,  # noqa: FBT001 - Django's wrapper signature
        context: dict[str, Any],
    ) -> Any:  # noqa: ANN401 - the cursor's result
        self.statements += 1
        words = sql.split(None, 1)
        keyword = words[0].upper() if words else ""
        if connection.get_autocommit():
            if keyword in _WRITES:
                self.commits += 1  # its own transaction
        elif not self._in_transaction:
            # The first statement of an atomic block. SQLite's BEGIN came through this
            # wrapper already; psycopg sends its own, unseen.
            self._in_transaction = True
            if connection.vendor != "sqlite":
                self.statements += 1
            transaction.on_commit(self._committed)
        return execute(sql, params, many, context)

    def _committed(self) -> None:
        self.statements += 1  # COMMIT goes to the driver's commit(), not a cursor
        self.commits += 1
        self._in_transaction = False


def lifecycle(model: Any, preauth: str, number: int, tag: str) -> Any:  # noqa: ANN401 - untyped model
    """Create, process (authorise, capture), refund 30.00 and 20.00; return the payment."""
    payment = model.objects.create(
        variant="default",
        currency="USD",
        total=_ORDER_TOTAL,
        description=f"ord_{tag}_{number}",
        billing_email=f"cus_{number % 50}@shop.example",
    )
    payment.change_status(preauth)
    payment.capture(payment.total)
    for amount in _REFUNDS:
        payment.refund(amount)
    return payment


def check(model: Any, preauth: str) -> dict[str, str]:  # noqa: ANN401 - the model is untyped here
    """One lifecycle step by step, with what the row holds in the database after each step."""

    def row(payment: Any) -> str:  # noqa: ANN401
        stored = model.objects.values("status", "captured_amount").get(pk=payment.pk)
        return f"status={stored['status']} captured_amount={stored['captured_amount']}"

    payment = model.objects.create(variant="default", currency="USD", total=_ORDER_TOTAL)
    states = {"create": row(payment)}
    payment.change_status(preauth)
    payment.capture(payment.total)
    states["process"] = row(payment)
    for amount in _REFUNDS:
        payment.refund(amount)
        states[f"refund {amount}"] = row(payment)
    return states


def main() -> None:
    """Set up, answer ready, then run what standard input asks (module docstring)."""
    store = json.loads(sys.argv[1])
    configure(store)
    model = payment_model()
    from payments import PaymentStatus  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415 - see payment_model

    preauth: str = PaymentStatus.PREAUTH
    with connection.schema_editor() as editor:
        editor.create_model(model)
    ready = {
        "ready": True,
        "django": django.get_version(),
        "vendor": connection.vendor,
        "check": check(model, preauth),
    }
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            journal = cursor.fetchone()
            cursor.execute("PRAGMA synchronous")
            synchronous = cursor.fetchone()
        ready["sqlite"] = f"journal_mode={journal[0]} synchronous={synchronous[0]}"
    print(json.dumps(ready), flush=True)
    for line in sys.stdin:
        command, *arguments = line.split()
        if command != "run":
            break
        count, tag = int(arguments[0]), arguments[1]
        counter = Counter()
        with connection.execute_wrapper(counter):
            start = time.perf_counter()
            for number in range(count):
                lifecycle(model, preauth, number, tag)
            seconds = time.perf_counter() - start
        answer = {"seconds": seconds, "statements": counter.statements, "commits": counter.commits}
        print(json.dumps(answer), flush=True)
    connection.close()


if __name__ == "__main__":
    main()
