"""paykit's Alembic migrations; run them with ``paykit.storage.sql.upgrade``."""
