"""SQL storage for paykit: SQLite as the embedded default, PostgreSQL for production.

Needs the ``sql`` extra (SQLAlchemy 2, Alembic), plus ``postgres`` (psycopg 3) for
PostgreSQL::

    from paykit.storage.sql import SqlStorage

    storage = SqlStorage("sqlite:///paykit.db")
    storage.upgrade()  # create or upgrade the tables (versioned migrations)

``upgrade(engine_or_url)`` does the same for any engine or URL, and so does the command
line: ``python -m paykit.storage.sql upgrade sqlite:///paykit.db``. See docs/storage.md.
"""

from paykit.storage.sql._migrate import current_revision, head_revision, upgrade
from paykit.storage.sql._storage import SqlStorage
from paykit.storage.sql._uow import SqlUnitOfWork

__all__ = ["SqlStorage", "SqlUnitOfWork", "current_revision", "head_revision", "upgrade"]
