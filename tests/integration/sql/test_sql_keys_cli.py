"""``paykit keys rotate`` and ``paykit keys generate`` from the command line."""

from __future__ import annotations

import base64
import json
import os

import pytest

from paykit.cli import main
from paykit.encryption import ENCRYPTION_KEYS_VARIABLE, KeyRing
from paykit.storage.sql import SqlStorage
from paykit.testing.repository_contract._records import _method, _payment, _save

K1 = base64.b64encode(os.urandom(32)).decode()
K2 = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def plaintext_db(sqlite_url: str) -> str:
    """A migrated SQLite file with a payment method and a payment, in plaintext."""
    storage = SqlStorage(sqlite_url)
    storage.upgrade()
    _save(storage, _method(), _payment())
    storage.dispose()
    return sqlite_url


def test_rotate_seals_a_plaintext_database_and_reports_json(
    plaintext_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 0; the JSON counts both rows; a second run rewrites nothing."""
    monkeypatch.setenv(ENCRYPTION_KEYS_VARIABLE, f"k1:{K1}")
    argv = ["keys", "rotate", "--database", plaintext_db, "--json", "--batch-size", "1"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["rewritten"], first["unreadable"], first["key_id"]) == (2, 0, "k1")
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["rewritten"] == 0


def test_rotate_exits_1_when_rows_cannot_be_read(
    plaintext_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows under a key the ring lacks are left alone and counted unreadable."""
    sealed = SqlStorage(plaintext_db, encryption=KeyRing.from_string(f"k1:{K1}"))
    _save(sealed, _payment())
    sealed.dispose()
    monkeypatch.setenv(ENCRYPTION_KEYS_VARIABLE, f"k2:{K2}")
    assert main(["keys", "rotate", "--database", plaintext_db, "--no-progress"]) == 1
    assert "unreadable" in capsys.readouterr().out


def test_rotate_without_keys_is_a_usage_error(
    plaintext_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No PAYKIT_ENCRYPTION_KEYS: exit 2 and a line naming the variable."""
    monkeypatch.delenv(ENCRYPTION_KEYS_VARIABLE, raising=False)
    assert main(["keys", "rotate", "--database", plaintext_db]) == 2
    assert ENCRYPTION_KEYS_VARIABLE in capsys.readouterr().err


def test_generate_prints_a_usable_key(capsys: pytest.CaptureFixture[str]) -> None:
    """The printed entry is a valid ring of one 256-bit key."""
    assert main(["keys", "generate", "--id", "k7"]) == 0
    ring = KeyRing.from_string(capsys.readouterr().out.strip())
    assert ring.primary_id == "k7"
    assert len(ring.key("k7") or b"") == 32
