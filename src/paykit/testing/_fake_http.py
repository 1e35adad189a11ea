"""What the scripted providers share: their faults, the script of them, and what a fault does.

``FakeStripe`` and ``FakePayPal`` answer at the HTTP level behind ``httpx.MockTransport``.
Each scripts failures for its next matching requests with its ``Fault``, a subclass of
:class:`ScriptedFault` that adds the provider's own error body; :class:`FaultScript` holds
those faults, picks the one a request meets and raises the transport error it causes. The
kinds are :class:`~paykit.testing.faults.FaultKind`, the vocabulary ``FaultyGateway`` uses
too, so ``timeout_after_success`` means the same thing on the sandbox and on a fake.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Final, Self

import attrs
import httpx

from paykit.testing.faults import FAKE_PROVIDER_FAULTS, FaultKind

__all__ = ["FaultScript", "ScriptedFault"]

_F = FaultKind
_ANSWERED: Final = frozenset({_F.SERVER_ERROR, _F.RATE_LIMITED, _F.ERROR_RESPONSE})
_TOO_MANY_REQUESTS: Final = 429
_SERVER_ERRORS: Final = 500


@attrs.frozen(kw_only=True)
class ScriptedFault:
    """A failure scripted for a request to a fake provider (its ``kind`` says which).

    Build one with :meth:`connection_refused`, :meth:`timeout_after_success`,
    :meth:`dropped_response`, or the provider's ``error(status, ...)``: an error answer
    carried by ``status``, ``body`` and ``headers``, whose kind follows from the status
    (``rate_limited`` for a 429, ``server_error`` for a 5xx, ``error_response`` otherwise).
    """

    kind: FaultKind = attrs.field(validator=attrs.validators.in_(FAKE_PROVIDER_FAULTS))
    status: int = 500
    body: Mapping[str, Any] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def connection_refused(cls) -> Self:
        """The request never reaches the provider (``httpx.ConnectError``)."""
        return cls(kind=_F.CONNECTION_REFUSED)

    @classmethod
    def timeout_after_success(cls) -> Self:
        """The provider carries the request out; its answer never comes (``httpx.ReadTimeout``)."""
        return cls(kind=_F.TIMEOUT_AFTER_SUCCESS)

    @classmethod
    def dropped_response(cls) -> Self:
        """The provider carries the request out; the connection drops before the answer.

        The transport raises ``httpx.RemoteProtocolError``, as httpx does when a server
        closes the connection without answering.
        """
        return cls(kind=_F.DROPPED_RESPONSE)

    @classmethod
    def reset(cls) -> Self:
        """Deprecated name of :meth:`connection_refused`."""
        return cls.connection_refused()

    @classmethod
    def lose_answer(cls) -> Self:
        """Deprecated name of :meth:`timeout_after_success`."""
        return cls.timeout_after_success()

    @classmethod
    def _answering(
        cls, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> Self:
        """The provider answers ``status`` with ``body`` instead of carrying the request out."""
        if status == _TOO_MANY_REQUESTS:
            kind = _F.RATE_LIMITED
        elif status >= _SERVER_ERRORS:
            kind = _F.SERVER_ERROR
        else:
            kind = _F.ERROR_RESPONSE
        return cls(kind=kind, status=status, body=body, headers=headers or {})

    @property
    def answered(self) -> bool:
        """Whether the provider answers ``status`` instead of carrying the request out."""
        return self.kind in _ANSWERED


@attrs.define
class _Scripted:
    fault: ScriptedFault
    method: str | None
    path: str | None
    times: int


class FaultScript:
    """The faults scripted for a fake's next matching requests, and what they do to one.

    A fake calls :meth:`before` when a request arrives (it raises for a refused connection,
    or returns the fault, whose error answer the fake then sends instead of acting) and
    :meth:`after` once it has acted (it raises when the answer is lost on the way back).
    """

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._scripted: list[_Scripted] = []
        self._lock = threading.Lock()

    def add(
        self,
        fault: ScriptedFault,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
    ) -> None:
        """Apply ``fault`` to the next ``times`` requests matching ``method`` and ``path``.

        ``path`` matches as a prefix; ``None`` matches any method or path.
        """
        if times < 1:
            msg = f"times must be at least 1, not {times}"
            raise ValueError(msg)
        with self._lock:
            self._scripted.append(_Scripted(fault, method, path, times))

    def before(self, request: httpx.Request) -> ScriptedFault | None:
        """The fault ``request`` meets, if any; raise at once if it never reaches the provider."""
        fault = self._next(request.method, request.url.path)
        if fault is not None and fault.kind is _F.CONNECTION_REFUSED:
            msg = f"connection refused by the fake {self._provider}"
            raise httpx.ConnectError(msg, request=request)
        return fault

    def after(
        self, request: httpx.Request, fault: ScriptedFault | None, *, lost: bool = False
    ) -> None:
        """Raise if the answer to ``request`` never arrives (``lost``: the fake's own script)."""
        kind = None if fault is None else fault.kind
        if lost or kind is _F.TIMEOUT_AFTER_SUCCESS:
            msg = f"the fake {self._provider}'s answer was lost"
            raise httpx.ReadTimeout(msg, request=request)
        if kind is _F.DROPPED_RESPONSE:
            msg = "Server disconnected without sending a response."
            raise httpx.RemoteProtocolError(msg, request=request)

    def _next(self, method: str, path: str) -> ScriptedFault | None:
        with self._lock:
            for scripted in self._scripted:
                if scripted.method not in (None, method):
                    continue
                if scripted.path is not None and not path.startswith(scripted.path):
                    continue
                scripted.times -= 1
                if scripted.times == 0:
                    self._scripted.remove(scripted)
                return scripted.fault
        return None
