"""``Idempotency-Key``: the same key and body replays the first answer, status code included.

Following the IETF httpapi draft and Stripe: a ``POST`` with the header is claimed in storage
under the caller's own namespace (keys of two callers never meet) before it runs, and its
answer is stored when it finishes. Then:

* the same key and the same request (method, path, body) -> the stored answer again;
* the same key with another request -> 422 ``idempotency_key_reused``;
* the same key while the first request still runs -> 409 ``idempotency_request_in_progress``;
* an answer of 500 or more, or a request that raised, is not stored: the claim is dropped so
  the client may retry with the same key;
* a claim whose request died (the process was killed) stops blocking its key after
  ``lock_timeout``; a stored answer expires after ``ttl`` (24 h by default) and
  :func:`sweep_idempotent_requests` deletes expired records.

The claim is a unique key in the storage, so two requests racing with one key conflict in
the commit and the loser sees the winner's claim: exactly one runs.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from functools import partial
from typing import Any, Final

import attrs

from paykit.api._problems import ApiProblem
from paykit.domain.idempotent_request import IdempotentRequest, IdempotentRequestStatus
from paykit.service import PaymentService
from paykit.service._rules.transaction import Transaction

__all__ = ["IdempotencyGate", "Replay", "fingerprint", "sweep_idempotent_requests"]

MAX_KEY_LENGTH: Final = 255
_S = IdempotentRequestStatus


@attrs.frozen
class Replay:
    """A stored answer to give again."""

    status: int
    body: bytes


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests "the same": method, path and the exact body bytes."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def without_secrets(body: bytes) -> str:
    """The answer as stored: any ``client_secret`` removed (it is handed over only once)."""
    return json.dumps(_strip(json.loads(body)), separators=(",", ":"))


def _strip(value: Any) -> Any:  # noqa: ANN401 - any JSON value
    if isinstance(value, dict):
        return {key: _strip(item) for key, item in value.items() if key != "client_secret"}
    if isinstance(value, list):
        return [_strip(item) for item in value]
    return value


class IdempotencyGate:
    """Claims, answers and releases idempotency keys in the service's storage."""

    def __init__(
        self,
        service: PaymentService,
        *,
        ttl: timedelta = timedelta(hours=24),
        lock_timeout: timedelta = timedelta(minutes=1),
    ) -> None:
        self._context = service.context
        self._ttl = ttl
        self._lock_timeout = lock_timeout

    def begin(self, owner: str, key: str, request_fingerprint: str) -> Replay | None:
        """Claim ``key`` for this request; a :class:`Replay` if it was answered before.

        Raises :class:`ApiProblem` (422 or 409) for a reused or busy key.
        """
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            msg = f"must be 1 to {MAX_KEY_LENGTH} printable characters"
            raise ApiProblem(422, "validation_error", msg, field="Idempotency-Key")
        return self._context.transact(
            partial(self._claim, owner=owner, key=key, request_fingerprint=request_fingerprint)
        )

    def _claim(
        self, tx: Transaction, *, owner: str, key: str, request_fingerprint: str
    ) -> Replay | None:
        requests = tx.uow.idempotent_requests
        found = requests.find(owner, key)
        if found is None:
            requests.add(
                IdempotentRequest(
                    id=tx.new_id("idr"),
                    owner=owner,
                    key=key,
                    fingerprint=request_fingerprint,
                    status=_S.IN_PROGRESS,
                    response_status=None,
                    response_body=None,
                    created_at=tx.now,
                    locked_until=tx.now + self._lock_timeout,
                    expires_at=tx.now + self._ttl,
                )
            )
            return None
        if found.expires_at <= tx.now:  # an old answer: the key starts afresh
            self._restart(tx, found, request_fingerprint)
            return None
        if found.fingerprint != request_fingerprint:
            msg = (
                "this Idempotency-Key was used for a different request (method, path or "
                "body); use a new key for a new request"
            )
            raise ApiProblem(422, "idempotency_key_reused", msg, field="Idempotency-Key")
        if found.status is _S.COMPLETED and found.response_status is not None:
            return Replay(found.response_status, (found.response_body or "").encode())
        if found.locked_until is not None and found.locked_until > tx.now:
            msg = "a request with this Idempotency-Key is still being processed; retry later"
            raise ApiProblem(
                409, "idempotency_request_in_progress", msg, headers={"Retry-After": "1"}
            )
        self._restart(tx, found, request_fingerprint)  # its request died without an answer
        return None

    def _restart(
        self, tx: Transaction, record: IdempotentRequest, request_fingerprint: str
    ) -> None:
        record.fingerprint = request_fingerprint
        record.status = _S.IN_PROGRESS
        record.response_status = None
        record.response_body = None
        record.created_at = tx.now
        record.locked_until = tx.now + self._lock_timeout
        record.expires_at = tx.now + self._ttl
        tx.uow.idempotent_requests.update(record)

    def finish(self, owner: str, key: str, status: int, body: bytes) -> None:
        """Store the answer to replay it (an answer of 500 or more releases the key instead)."""
        if status >= 500:  # noqa: PLR2004 - HTTP's own boundary: the client may retry
            self.release(owner, key)
            return
        stored = without_secrets(body) if body else ""

        def work(tx: Transaction) -> None:
            record = tx.uow.idempotent_requests.find(owner, key)
            if record is None:  # swept meanwhile: nothing to replay from
                return
            record.status = _S.COMPLETED
            record.response_status = status
            record.response_body = stored
            record.locked_until = None
            tx.uow.idempotent_requests.update(record)

        self._context.transact(work)

    def release(self, owner: str, key: str) -> None:
        """Drop the claim of a request that failed without an answer worth replaying."""

        def work(tx: Transaction) -> None:
            record = tx.uow.idempotent_requests.find(owner, key)
            if record is not None and record.status is _S.IN_PROGRESS:
                tx.uow.idempotent_requests.remove(record)

        self._context.transact(work)


def sweep_idempotent_requests(service: PaymentService, *, limit: int = 1000) -> int:
    """Delete up to ``limit`` expired idempotency records; return how many went."""

    def work(tx: Transaction) -> int:
        expired = tx.uow.idempotent_requests.list_expired(tx.now, limit=limit)
        for record in expired:
            tx.uow.idempotent_requests.remove(record)
        return len(expired)

    return service.context.transact(work)
