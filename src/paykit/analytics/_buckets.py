"""Time buckets in Python: a UTC instant to the naive local start of its bucket."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from paykit.analytics._model import Dimension

__all__ = ["bucket_start"]


def bucket_start(instant: datetime, dimension: Dimension, zone: ZoneInfo) -> datetime:
    """The naive wall-clock start, in ``zone``, of the bucket holding ``instant``.

    Naive on purpose: the key is the local wall clock, as PostgreSQL's
    ``date_trunc(unit, created_at AT TIME ZONE zone)`` gives it, so the hour repeated when
    clocks go back is one hour bucket holding two hours, on every backend.
    """
    local = instant.astimezone(zone).replace(tzinfo=None, fold=0)
    hour = local.replace(minute=0, second=0, microsecond=0)
    if dimension is Dimension.HOUR:
        return hour
    day = hour.replace(hour=0)
    if dimension is Dimension.DAY:
        return day
    if dimension is Dimension.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)
