"""The storage contract of ``paykit.storage.base`` as a pytest suite any storage can run.

Subclass :class:`RepositoryContract` (under a ``Test...`` name) and implement
:meth:`~RepositoryContractBase.make_storage`; see ``paykit.testing`` for an example. The
suite checks what the contract promises and what the service relies on, one mixin a concern:

* :class:`RoundTripContract` -- records come back exactly as stored (every field, exact
  ``Money``, aware datetimes, metadata), as copies, with the stored ``version`` on the
  caller's object after a commit;
* :class:`EncryptedFieldContract` -- every field a storage may encrypt at rest (tokens,
  display details, metadata, descriptions, log data, webhook payloads) round-trips exactly;
* :class:`UnitOfWorkContract` -- a unit of work sees its own staged writes, nobody else
  does, and nothing is written without a commit;
* :class:`MetadataContract` -- metadata that is not bounded JSON is refused when staged;
* :class:`ConcurrencyContract` -- a commit is atomic, and one that loses a race -- a changed
  record or a unique key taken twice -- raises ``ConcurrencyConflict`` and writes nothing;
* :class:`StaleReadContract` -- a unit of work knows whether a record it read (by ``get``, a
  find or a listing) has been changed or removed by another unit since
  (``has_stale_reads``);
* :class:`ListingAndLookupContract` -- listings filter and sort oldest first, and lookups by
  a provider's id are scoped to that provider;
* :class:`AuditLogContract` -- the audit log is append-only and keeps its order;
* :class:`DisputeContract` and :class:`WebhookInboxContract` -- disputes and webhook inbox
  entries round-trip and are unique by their provider's id; the inbox lists what is
  unmatched;
* :class:`IdempotentRequestContract` -- the API's idempotency records round-trip, are unique
  by (owner, key), are version-checked, and are listed for the sweep once expired;
* :class:`AutomationActionContract` -- what automated refund policies did: one action per
  (policy, payment), version-checked, listed by policy, payment, status and creation time;
* :class:`ReconciliationContract` -- the reconciliation sweep's listings pick exactly the
  records that are due, least recently updated first;
* :class:`OutboxContract` -- host events waiting for delivery round-trip with their records,
  are listed in commit order by status and payment, and are version-checked;
* :class:`RiskContract` -- fraud screening's risk assessments (one per payment,
  version-checked, the review queue, velocity counts per key and window) and list entries
  (unique by list and value);
* :class:`ThreadContract` -- under threads, retried units of work keep the refund ceiling.

:class:`RepositoryContract` is the union of them all over :class:`RepositoryContractBase`,
which builds a storage per test (the ``storage`` fixture). To run one concern only -- while
a storage is being written, or to give a slow concern a job of its own -- subclass that
mixin together with the base, the base last::

    from paykit.storage import Storage
    from paykit.testing.repository_contract import (
        RepositoryContractBase,
        WebhookInboxContract,
    )


    class TestMyStorageInbox(WebhookInboxContract, RepositoryContractBase):
        def make_storage(self) -> Storage:
            return MyStorage(url="postgresql://localhost/paykit_test")

Several mixins combine the same way. Records are built by the small factories of
``_records``: fixed UTC datetimes, random ``uuid`` ids, so the tests do not depend on one
another's data.
"""

from __future__ import annotations

from paykit.testing.repository_contract._audit_log import AuditLogContract
from paykit.testing.repository_contract._automation_actions import AutomationActionContract
from paykit.testing.repository_contract._base import RepositoryContractBase
from paykit.testing.repository_contract._concurrency import ConcurrencyContract
from paykit.testing.repository_contract._disputes import DisputeContract
from paykit.testing.repository_contract._encrypted_fields import EncryptedFieldContract
from paykit.testing.repository_contract._idempotent_requests import IdempotentRequestContract
from paykit.testing.repository_contract._lookups import ListingAndLookupContract
from paykit.testing.repository_contract._metadata import MetadataContract
from paykit.testing.repository_contract._outbox import OutboxContract
from paykit.testing.repository_contract._reconciliation import ReconciliationContract
from paykit.testing.repository_contract._risk import RiskContract
from paykit.testing.repository_contract._round_trips import RoundTripContract
from paykit.testing.repository_contract._stale_reads import StaleReadContract
from paykit.testing.repository_contract._threads import ThreadContract
from paykit.testing.repository_contract._units_of_work import UnitOfWorkContract
from paykit.testing.repository_contract._webhook_inbox import WebhookInboxContract

__all__ = [
    "AuditLogContract",
    "AutomationActionContract",
    "ConcurrencyContract",
    "DisputeContract",
    "EncryptedFieldContract",
    "IdempotentRequestContract",
    "ListingAndLookupContract",
    "MetadataContract",
    "OutboxContract",
    "ReconciliationContract",
    "RepositoryContract",
    "RepositoryContractBase",
    "RiskContract",
    "RoundTripContract",
    "StaleReadContract",
    "ThreadContract",
    "UnitOfWorkContract",
    "WebhookInboxContract",
]


# pytest collects an inherited test class's bases from the last to the first, so the
# mixins are listed last concern first: the suite runs in the order of the list above.
class RepositoryContract(
    ThreadContract,
    RiskContract,
    OutboxContract,
    AutomationActionContract,
    ReconciliationContract,
    IdempotentRequestContract,
    WebhookInboxContract,
    DisputeContract,
    AuditLogContract,
    ListingAndLookupContract,
    StaleReadContract,
    ConcurrencyContract,
    MetadataContract,
    UnitOfWorkContract,
    EncryptedFieldContract,
    RoundTripContract,
    RepositoryContractBase,
):
    """Every test a storage must pass; subclass it as ``Test<YourStorage>``."""
