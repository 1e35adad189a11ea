"""Idempotent requests: the API's ``Idempotency-Key`` records, one per (owner, key).

A record comes back equal, every field and aware datetime included; it is found by (owner,
key), and one owner's key taken twice -- by two racing requests, a later one, or twice in a
unit -- conflicts, while another owner's same key is a record of its own. Updates and
removals are version-checked; a removed key can be claimed again, in the same unit too.
``list_expired`` gives the records whose ``expires_at`` has come, longest expired first,
up to a limit, the unit's own writes included; every read counts for ``has_stale_reads``.
"""

# The suite's checks are pytest asserts and the literals are the expected values; the
# per-file ignores that tests/ gets in pyproject.toml do not reach this shipped module.
# ruff: noqa: S101, PLR2004

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone

import pytest

from paykit.domain.idempotent_request import IdempotentRequest, IdempotentRequestStatus
from paykit.errors import NotFound, ValidationError
from paykit.storage.base import Storage, UnitOfWork
from paykit.testing.repository_contract._records import (
    T0,
    _assert_commit_conflicts,
    _at,
    _new_id,
    _payment,
    _racing_units,
)

OWNER = "customer:cus_contract"


def _request(
    *,
    owner: str = OWNER,
    key: str | None = None,
    expires_at: datetime | None = None,
    created_at: datetime = T0,
) -> IdempotentRequest:
    """An ``in_progress`` claim, locked for a minute, expiring a day after ``created_at``."""
    return IdempotentRequest(
        id=_new_id("idem"),
        owner=owner,
        key=_new_id("key") if key is None else key,
        fingerprint="sha256:" + "ab" * 32,
        status=IdempotentRequestStatus.IN_PROGRESS,
        created_at=created_at,
        locked_until=created_at + timedelta(minutes=1),
        expires_at=expires_at or created_at + timedelta(days=1),
    )


def _save(storage: Storage, *requests: IdempotentRequest) -> None:
    """Add ``requests`` in one unit of work and commit it."""
    with storage.unit_of_work() as uow:
        for request in requests:
            uow.idempotent_requests.add(request)
        uow.commit()


def _find(uow: UnitOfWork, request: IdempotentRequest) -> IdempotentRequest:
    """``request`` read back by its (owner, key), which must be there."""
    found = uow.idempotent_requests.find(request.owner, request.key)
    assert found is not None
    return found


def _ids(requests: Iterable[IdempotentRequest]) -> list[str]:
    return [request.id for request in requests]


def _complete(request: IdempotentRequest, status: int, body: str) -> None:
    """Record the answer on ``request``, as the API does when its work is done."""
    request.status = IdempotentRequestStatus.COMPLETED
    request.response_status = status
    request.response_body = body
    request.locked_until = None


class IdempotentRequestContract:
    """Idempotent requests round-trip, are unique per (owner, key), and expire for the sweep."""

    def test_idempotent_request_round_trips(self, storage: Storage) -> None:
        """Every field comes back equal, as a copy at the stored version, times aware."""
        india = timezone(timedelta(hours=5, minutes=30))
        body = '{"id": "pay_1", "amount": "25.00", "note": "Zürich ✓", "items": [1, 2]}'
        completed = IdempotentRequest(
            id=_new_id("idem"),
            owner="staff:alice",
            key="k" * 255,
            fingerprint="sha256:" + "0f" * 32,
            status=IdempotentRequestStatus.COMPLETED,
            response_status=201,
            response_body=body + " " * 70_000,
            created_at=T0,
            locked_until=_at(1),
            expires_at=(T0 + timedelta(days=1)).astimezone(india),
        )
        claimed = _request(owner="customer:cus_1", key="Ünïcode-key 1")
        claimed.locked_until = None
        _save(storage, completed, claimed)

        assert completed.version >= 1
        with storage.unit_of_work() as uow:
            by_key = uow.idempotent_requests.find("staff:alice", "k" * 255)
            by_id = uow.idempotent_requests.get(claimed.id)
        assert by_key is not None
        for got, original in ((by_key, completed), (by_id, claimed)):
            assert got is not original
            assert got == original
            assert got.version == original.version
            assert got.created_at.utcoffset() is not None
            assert got.expires_at.utcoffset() is not None
        assert by_key.status is IdempotentRequestStatus.COMPLETED
        assert by_key.response_status == 201
        assert by_key.response_body == body + " " * 70_000
        assert by_key.created_at.microsecond == 123456
        assert by_key.locked_until == _at(1)
        assert by_key.expires_at == T0 + timedelta(days=1)
        assert by_id.status is IdempotentRequestStatus.IN_PROGRESS
        assert (by_id.response_status, by_id.response_body, by_id.locked_until) == (None,) * 3

    def test_find_by_owner_and_key(self, storage: Storage) -> None:
        """A record is found by its (owner, key) only; another owner's same key is not it."""
        mine = _request(key="shared-key")
        theirs = _request(owner="customer:cus_other", key="shared-key")
        _save(storage, mine, theirs)

        with storage.unit_of_work() as uow:
            requests = uow.idempotent_requests
            assert _find(uow, mine).id == mine.id
            assert _find(uow, theirs).id == theirs.id
            assert requests.find("staff:alice", "shared-key") is None
            assert requests.find(OWNER, "another-key") is None
            assert requests.get(theirs.id) == theirs
            with pytest.raises(NotFound):
                requests.get("idem_missing")

    def test_a_unit_sees_its_own_staged_claim(self, storage: Storage) -> None:
        """A claim staged in a unit is found there, by nobody else, and is gone without a commit."""
        claim = _request(key="staged-key")
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            uow.idempotent_requests.add(claim)
            found = uow.idempotent_requests.find(OWNER, "staged-key")
            assert found is not None
            assert found.id == claim.id
            assert uow.idempotent_requests.get(claim.id).id == claim.id
            assert other.idempotent_requests.find(OWNER, "staged-key") is None

        with storage.unit_of_work() as uow:  # left without a commit: nothing was written
            assert uow.idempotent_requests.find(OWNER, "staged-key") is None

    def test_a_key_is_unique_per_owner(self, storage: Storage) -> None:
        """One owner's key twice (committed, or twice in a unit) conflicts; another owner's not."""
        first = _request(key="dup-key")
        _save(storage, first)
        with storage.unit_of_work() as uow:
            uow.idempotent_requests.add(_request(key="dup-key"))
            _assert_commit_conflicts(uow)
        with storage.unit_of_work() as uow:
            uow.idempotent_requests.add(_request(key="twice-key"))
            uow.idempotent_requests.add(_request(key="twice-key"))
            _assert_commit_conflicts(uow)
        other_owner = _request(owner="staff:alice", key="dup-key")
        _save(storage, other_owner)

        with storage.unit_of_work() as uow:
            assert _find(uow, first).id == first.id
            assert _find(uow, other_owner).id == other_owner.id
            assert uow.idempotent_requests.find(OWNER, "twice-key") is None

    def test_two_requests_claiming_one_key_racing_first_commit_wins(self, storage: Storage) -> None:
        """Both units find no claim and add one: the second commit conflicts and writes nothing.

        On its retry, the loser finds the winner's claim still in progress.
        """
        with _racing_units(storage) as (first, second):
            assert first.idempotent_requests.find(OWNER, "race-key") is None
            assert second.idempotent_requests.find(OWNER, "race-key") is None
            winner = _request(key="race-key")
            loser = _request(key="race-key")
            first.idempotent_requests.add(winner)
            second.idempotent_requests.add(loser)
            lost_work = _payment(idempotency_key="race-key")
            second.payments.add(lost_work)

        with storage.unit_of_work() as uow:
            retry = _find(uow, winner)
            assert retry.id == winner.id
            assert retry.status is IdempotentRequestStatus.IN_PROGRESS
            with pytest.raises(NotFound):
                uow.idempotent_requests.get(loser.id)
            with pytest.raises(NotFound):
                uow.payments.get(lost_work.id)

    def test_an_update_commits_a_new_version_and_a_stale_one_conflicts(
        self, storage: Storage
    ) -> None:
        """Completing a claim bumps its version; of two units completing it the second conflicts."""
        claim = _request()
        _save(storage, claim)
        first_version = claim.version
        with storage.unit_of_work() as uow:
            loaded = _find(uow, claim)
            _complete(loaded, 201, '{"id": "pay_1"}')
            uow.idempotent_requests.update(loaded)
            assert _find(uow, claim).status is IdempotentRequestStatus.COMPLETED
            uow.commit()
        assert loaded.version > first_version
        with storage.unit_of_work() as uow:
            stored = uow.idempotent_requests.get(claim.id)
            assert stored == loaded
            assert stored.version == loaded.version

        with _racing_units(storage) as (first, second):
            mine = _find(first, claim)
            theirs = _find(second, claim)
            _complete(mine, 200, '{"first": true}')
            first.idempotent_requests.update(mine)
            _complete(theirs, 409, '{"second": true}')
            second.idempotent_requests.update(theirs)

        with storage.unit_of_work() as uow:
            stored = _find(uow, claim)
            assert (stored.response_status, stored.response_body) == (200, '{"first": true}')
            assert stored.version == mine.version

    def test_remove(self, storage: Storage) -> None:
        """A removed record is gone, in its unit at once and for all after the commit."""
        gone, kept = _request(), _request()
        _save(storage, gone, kept)
        with storage.unit_of_work() as uow:
            uow.idempotent_requests.remove(_find(uow, gone))
            assert uow.idempotent_requests.find(gone.owner, gone.key) is None
            with pytest.raises(NotFound):
                uow.idempotent_requests.get(gone.id)
            uow.commit()

        with storage.unit_of_work() as uow:
            assert uow.idempotent_requests.find(gone.owner, gone.key) is None
            with pytest.raises(NotFound):
                uow.idempotent_requests.get(gone.id)
            assert _find(uow, kept) == kept

    def test_a_stale_remove_conflicts(self, storage: Storage) -> None:
        """Removing a record another unit changed or removed first conflicts, writing nothing."""
        changed, removed = _request(), _request()
        _save(storage, changed, removed)
        with _racing_units(storage) as (first, second):
            answered = _find(first, changed)
            _complete(answered, 201, "{}")
            first.idempotent_requests.update(answered)
            first.idempotent_requests.remove(_find(first, removed))
            second.idempotent_requests.remove(_find(second, changed))
            second.idempotent_requests.add(_request(key="written-with-the-loser"))

        with _racing_units(storage) as (first, second):
            first.idempotent_requests.remove(_find(first, changed))
            second.idempotent_requests.remove(_find(second, changed))

        with storage.unit_of_work() as uow:
            assert uow.idempotent_requests.find(changed.owner, changed.key) is None
            assert uow.idempotent_requests.find(removed.owner, removed.key) is None
            assert uow.idempotent_requests.find(OWNER, "written-with-the-loser") is None

    def test_a_removed_key_can_be_claimed_again(self, storage: Storage) -> None:
        """Once its record is removed a key is free: in a later unit, or in the same one."""
        expired = _request(key="reused-key", expires_at=_at(-1))
        _save(storage, expired)
        with storage.unit_of_work() as uow:
            uow.idempotent_requests.remove(_find(uow, expired))
            replacement = _request(key="reused-key")
            uow.idempotent_requests.add(replacement)
            assert _find(uow, replacement).id == replacement.id
            uow.commit()
        with storage.unit_of_work() as uow:
            assert _find(uow, replacement) == replacement
            uow.idempotent_requests.remove(_find(uow, replacement))
            uow.commit()
        third = _request(key="reused-key")
        _save(storage, third)

        with storage.unit_of_work() as uow:
            assert _find(uow, third) == third
            with pytest.raises(NotFound):
                uow.idempotent_requests.get(expired.id)

    def test_list_expired_picks_the_expired_longest_expired_first(self, storage: Storage) -> None:
        """Exactly the records expired at ``now`` (boundary included), by expiry, up to a limit."""
        now = _at(0)
        latest = _request(expires_at=_at(0), created_at=_at(-10))
        oldest = _request(expires_at=_at(-30), created_at=_at(-40))
        middle = _request(expires_at=_at(-5), created_at=_at(-50))
        tied = _request(expires_at=_at(-5), created_at=_at(-20))
        future = _request(expires_at=_at(1), created_at=_at(-60))
        answered = _request(expires_at=_at(-20))
        _complete(answered, 201, "{}")
        # Written in another order than they expire, across commits.
        _save(storage, future, latest)
        _save(storage, middle, answered)
        _save(storage, tied, oldest)

        with storage.unit_of_work() as uow:
            expired = uow.idempotent_requests.list_expired
            in_order = [oldest.id, answered.id, middle.id, tied.id, latest.id]
            assert _ids(expired(now, limit=100)) == in_order
            assert _ids(expired(now, limit=2)) == in_order[:2]
            assert _ids(expired(now, limit=5)) == in_order
            assert list(expired(now, limit=0)) == []
            assert list(expired(_at(-31), limit=100)) == []
            assert _ids(expired(_at(-5), limit=100)) == in_order[:4]
            assert _ids(expired(_at(60), limit=100)) == [*in_order, future.id]
            assert expired(now, limit=1)[0] == oldest

    def test_list_expired_sees_the_units_own_writes(self, storage: Storage) -> None:
        """Staged claims are listed in expiry order; ones the unit removed or extended are not."""
        stored = [_request(expires_at=_at(-n)) for n in (40, 30, 20, 10)]
        _save(storage, *stored)
        now = _at(0)
        with storage.unit_of_work() as uow, storage.unit_of_work() as other:
            requests = uow.idempotent_requests
            requests.remove(_find(uow, stored[0]))
            extended = _find(uow, stored[1])
            extended.expires_at = _at(60)
            requests.update(extended)
            staged = _request(expires_at=_at(-25))
            requests.add(staged)
            requests.add(_request(expires_at=_at(5)))

            assert _ids(requests.list_expired(now, limit=100)) == [
                staged.id,
                stored[2].id,
                stored[3].id,
            ]
            assert _ids(requests.list_expired(now, limit=2)) == [staged.id, stored[2].id]
            assert _ids(other.idempotent_requests.list_expired(now, limit=2)) == _ids(stored[:2])

    def test_reads_through_idempotent_requests_count_for_stale_reads(
        self, storage: Storage
    ) -> None:
        """A record got, found or listed as expired, then changed or removed elsewhere, is stale."""
        changed = _request(expires_at=_at(-1))
        removed = _request(expires_at=_at(-2))
        _save(storage, changed, removed)
        reads: list[Callable[[UnitOfWork], object]] = [
            lambda uow: uow.idempotent_requests.get(changed.id),
            lambda uow: uow.idempotent_requests.find(removed.owner, removed.key),
            lambda uow: uow.idempotent_requests.list_expired(_at(0), limit=1),
            lambda uow: uow.idempotent_requests.list_expired(_at(0), limit=10),
        ]
        with ExitStack() as open_units:
            readers = [open_units.enter_context(storage.unit_of_work()) for _ in reads]
            for uow, read in zip(readers, reads, strict=True):
                read(uow)
            assert not any(uow.has_stale_reads() for uow in readers)
            with storage.unit_of_work() as elsewhere:
                answered = _find(elsewhere, changed)
                _complete(answered, 201, "{}")
                elsewhere.idempotent_requests.update(answered)
                elsewhere.idempotent_requests.remove(_find(elsewhere, removed))
                elsewhere.commit()

            assert [uow.has_stale_reads() for uow in readers] == [True] * len(reads)

    def test_a_key_no_storage_can_keep_is_refused_before_it_is_stored(
        self, storage: Storage
    ) -> None:
        """An empty or overlong key or owner, or a NUL in one, is a ``ValidationError`` up front."""
        for owner, key, field in (
            (OWNER, "", "key"),
            (OWNER, "k" * 256, "key"),
            (OWNER, "nul\x00key", "key"),
            ("", "a-key", "owner"),
            ("o" * 256, "a-key", "owner"),
        ):
            with pytest.raises(ValidationError) as refused:
                _request(owner=owner, key=key)
            assert refused.value.field == field
        with storage.unit_of_work() as uow:
            assert list(uow.idempotent_requests.list_expired(_at(10_000), limit=10)) == []
