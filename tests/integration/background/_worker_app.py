"""The Celery app the test's worker processes run: paykit's tasks on PostgreSQL.

Configured by environment variables the test sets (``PAYKIT_TEST_*``): the database and
schema, the broker, the queue. Each worker process builds its own service, with the shared
ledger gateway, on first use.
"""

from __future__ import annotations

import os
from datetime import timedelta

from celery import Celery
from sqlalchemy import create_engine

from paykit import PaymentService
from paykit.contrib.celery import register_tasks
from paykit.service import ReconcilePolicy
from paykit.storage.sql import SqlStorage

from ._ledger_gateway import LedgerGateway

DATABASE = os.environ["PAYKIT_TEST_DATABASE"]
SCHEMA = os.environ["PAYKIT_TEST_SCHEMA"]

app = Celery("paykit-test", broker=os.environ["PAYKIT_TEST_BROKER"])
app.conf.task_default_queue = os.environ["PAYKIT_TEST_QUEUE"]
app.conf.worker_prefetch_multiplier = 1
# Redis: a killed worker's unacknowledged messages are restored once they have been out
# for visibility_timeout; the restore's lock, if the killed worker held it, expires soon.
app.conf.broker_transport_options = {"visibility_timeout": 5, "unacked_mutex_expire": 5}


def build_service() -> PaymentService:
    """The service of one worker process: its own engine, the shared ledger."""
    storage = SqlStorage(DATABASE, schema=SCHEMA)
    gateway = LedgerGateway(create_engine(DATABASE, pool_size=10), SCHEMA)
    # A payment whose charge never reached the provider is believed "not found" at once:
    # the test does not wait ten minutes for the grace.
    return PaymentService(storage, {"credit_card": gateway}, in_flight_grace=timedelta(seconds=5))


tasks = register_tasks(
    app,
    build_service,
    reconcile_policy=ReconcilePolicy(older_than=timedelta(0), backoff=timedelta(seconds=1)),
)
