"""The application rules the service's operations share, each in one module.

Every module here works inside one unit of work (a :class:`~.transaction.Transaction`) and
never calls a provider: ``transaction`` (status moves with their log entries and events),
``validation`` (caller input), ``matching`` (which record a provider's event is about),
``settlement`` (applying a provider's answer, and what it teaches about provider ids),
``inbox`` (recording and applying webhook events), ``disputes`` and ``provider_keys`` (the
idempotency keys of provider calls). The operations in ``paykit.service`` call these; these
never call back into the operations.
"""
