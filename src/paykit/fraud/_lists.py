"""The host's block and allow lists, kept by paykit and read by rules as ``@list_name``."""

from __future__ import annotations

import re
from typing import Final

from paykit.domain.risk import RiskListEntry
from paykit.errors import ValidationError
from paykit.service._context import ServiceContext
from paykit.service._rules.transaction import Transaction
from paykit.service._rules.validation import checked_text

__all__ = ["RiskLists"]

_LIST_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def normalized(value: str) -> str:
    """A list value as stored and compared: trimmed and case-folded."""
    return checked_text(value, "value", max_length=255).strip().casefold()


def checked_list_name(list_name: object) -> str:
    """Refuse a list name a rule could not spell (``@name``)."""
    if not isinstance(list_name, str) or not _LIST_NAME.fullmatch(list_name):
        msg = "a list name is a letter or '_' then up to 63 letters, digits or '_'"
        raise ValidationError(msg, field="list_name")
    return list_name


class RiskLists:
    """Named lists of emails, domains, IPs, countries or card fingerprints (``service.risk_lists``).

    A rule tests membership with ``:email: in @blocked_emails``. Values are compared
    case-insensitively. What a list means is up to the rules that read it: the same
    mechanism serves block lists and allow lists.
    """

    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    def add(self, list_name: str, value: str, *, note: str = "", by: str = "") -> RiskListEntry:
        """Put ``value`` on ``list_name`` (already there: the existing entry is returned)."""
        list_name = checked_list_name(list_name)
        value = normalized(value)
        note = checked_text(note, "note", required=False)
        by = checked_text(by, "by", required=False, max_length=255)

        def work(tx: Transaction) -> RiskListEntry:
            existing = tx.uow.risk_lists.find(list_name, value)
            if existing is not None:
                return existing
            entry = RiskListEntry(
                id=tx.new_id("rl"),
                list_name=list_name,
                value=value,
                note=note,
                created_by=by,
                created_at=tx.now,
            )
            tx.uow.risk_lists.add(entry)
            return entry

        return self._context.transact(work)

    def remove(self, list_name: str, value: str) -> bool:
        """Take ``value`` off ``list_name``; say whether it was there."""
        list_name = checked_list_name(list_name)
        value = normalized(value)

        def work(tx: Transaction) -> bool:
            existing = tx.uow.risk_lists.find(list_name, value)
            if existing is None:
                return False
            tx.uow.risk_lists.remove(existing)
            return True

        return self._context.transact(work)

    def contains(self, list_name: str, value: str) -> bool:
        """Whether ``value`` is on ``list_name``."""
        list_name = checked_list_name(list_name)
        value = normalized(value)
        return self._context.read(lambda tx: tx.uow.risk_lists.find(list_name, value) is not None)

    def entries(self, list_name: str | None = None) -> list[RiskListEntry]:
        """The entries of ``list_name`` (of every list when ``None``), oldest first."""
        if list_name is not None:
            list_name = checked_list_name(list_name)
        return list(self._context.read(lambda tx: tx.uow.risk_lists.list(list_name)))
