"""Delivers committed events to the host application's subscribers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final

from paykit.domain.events import Event, EventType
from paykit.errors import ValidationError

__all__ = ["ALL_EVENTS", "EventBus", "EventHandler"]

ALL_EVENTS: Final = "*"
"""Subscribe with this to receive every event."""

EventHandler = Callable[[Event], None]

_EVENT_NAMES: Final = frozenset(t.value for t in EventType)

_log = logging.getLogger("paykit.events")


class EventBus:
    """Synchronous publish/subscribe for paykit events.

    Events are published after their unit of work committed, so a subscriber always sees
    durable state. A subscriber that raises is logged and does not stop the others: the
    payment has already happened, and the caller must not be told otherwise. The service
    delivers through its outbox (:class:`~paykit.outbox.OutboxDispatcher`): an event whose
    subscribers raised, or whose process died before it was delivered, is delivered again
    later, so subscribers should skip an event whose :attr:`~paykit.Event.id` they have
    already handled.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[EventHandler]] = {}

    def subscribe(self, event_type: EventType | str, handler: EventHandler) -> None:
        """Call ``handler`` for every event of ``event_type`` (or :data:`ALL_EVENTS`)."""
        if event_type != ALL_EVENTS and event_type not in _EVENT_NAMES:
            # Refuse a misspelt name now rather than never firing.
            msg = f"{event_type!r} is not a paykit event; use one of {sorted(_EVENT_NAMES)} or '*'"
            raise ValidationError(msg, field="event_type")
        self._handlers.setdefault(str(event_type), []).append(handler)

    @property
    def has_subscribers(self) -> bool:
        """Whether anybody subscribed to anything (the outbox stores nothing for nobody)."""
        return bool(self._handlers)

    def publish(self, event: Event) -> None:
        """Deliver a detached copy of ``event`` to its subscribers, then the catch-all ones.

        The copy means a subscriber that changes the payment it receives changes neither the
        object the service returned to its caller nor anything stored.
        """
        self.deliver(event)

    def deliver(self, event: Event) -> list[Exception]:
        """:meth:`publish` ``event`` and return what the subscribers that failed raised.

        Every subscriber is called, whichever fail; each failure is logged. The outbox
        delivers again an event for which this returns anything.
        """
        if not self._handlers:
            return []  # nobody subscribed: the common case in tests, scripts and benchmarks
        handlers = (*self._handlers.get(event.type, ()), *self._handlers.get(ALL_EVENTS, ()))
        if not handlers:
            return []
        event = event.detached()
        failures: list[Exception] = []
        for handler in handlers:
            try:
                handler(event)
            except Exception as error:  # noqa: BLE001 - one bad subscriber must not silence the rest
                _log.exception("event subscriber %r failed on %s", handler, event.type)
                failures.append(error)
        return failures
