"""docs/rest-api.md agrees with the code: its error table, its problem codes, its endpoints.

The page's Python blocks are run by tests/test_docs.py; these tests read its tables, which no
block prints, and compare them with ``STATUS_BY_ERROR``, the API's sources and the app's
OpenAPI document.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import pytest

import paykit.errors
from paykit import InMemoryStorage, PaymentService, SandboxGateway
from paykit.api import DEFAULT_PREFIX, STATUS_BY_ERROR, create_app
from paykit.api._problems import problem_for
from paykit.errors import GatewayError, PaykitError

from ._api_support import bearer_tokens

ROOT: Final = Path(__file__).parents[3]
PAGE: Final = ROOT / "docs" / "rest-api.md"
API_SOURCES: Final = ROOT / "src" / "paykit" / "api"
ERROR_HEADER: Final = "| error class | `code` in the body | status |"
PROBLEM_HEADER: Final = "| status | `code` | when |"
ENDPOINT_HEADER: Final = "| method | path | who | what |"


def table(header: str) -> list[list[str]]:
    """The rows of the page's table under ``header``, each a list of stripped cells."""
    lines = PAGE.read_text().splitlines()
    start = lines.index(header) + 2  # the header, then the |---| line
    rows: list[list[str]] = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def first_code(cell: str) -> str:
    """The first `code` span of a cell, without its backticks."""
    found = re.search(r"`([^`]+)`", cell)
    assert found is not None, cell
    return found.group(1)


def documented_errors() -> dict[str, tuple[str, int]]:
    """The error table: class name -> (code in the body, status)."""
    rows: dict[str, tuple[str, int]] = {}
    for name, code, status in table(ERROR_HEADER):
        cls = first_code(name)
        assert cls not in rows, f"{cls} is in the error table twice"
        found = re.match(r"\d{3}", status)
        assert found is not None, status
        rows[cls] = (first_code(code), int(found.group()))
    return rows


def error_classes() -> list[type[PaykitError]]:
    """Every error class paykit exports, the root included."""
    classes = [getattr(paykit.errors, name) for name in paykit.errors.__all__]
    return [cls for cls in classes if isinstance(cls, type) and issubclass(cls, PaykitError)]


def status_of(cls: type[PaykitError]) -> int:
    """The status ``STATUS_BY_ERROR`` gives the class (its first match; 400 for none)."""
    return next((status for base, status in STATUS_BY_ERROR if issubclass(cls, base)), 400)


def body_code_of(cls: type[PaykitError]) -> str:
    """The ``code`` the API puts in the body for an error of the class (not retryable)."""
    error = cls.__new__(cls)
    PaykitError.__init__(error, "message")
    error.field = None  # ValidationError's; harmless on the others
    error.detail = "message"
    error.retryable = False
    return problem_for(error).code


def test_the_error_table_is_status_by_error() -> None:
    """Every exported error class is in the table, with the status and code the API gives it."""
    expected = {cls.__name__: (body_code_of(cls), status_of(cls)) for cls in error_classes()}

    assert documented_errors() == expected


def test_the_error_table_covers_every_entry_of_status_by_error() -> None:
    """A class added to ``STATUS_BY_ERROR`` is documented, even one paykit does not export."""
    documented = documented_errors()

    for cls, status in STATUS_BY_ERROR:
        assert documented.get(cls.__name__, ("", 0))[1] == status, cls.__name__


def test_the_error_table_mentions_the_503_of_a_retryable_gateway_error() -> None:
    """The GatewayError row says that a retryable one is a 503 with Retry-After."""
    problem = problem_for(GatewayError("try later", retryable=True))
    row = next(row for row in table(ERROR_HEADER) if first_code(row[0]) == "GatewayError")

    assert problem.status == 503
    assert "Retry-After" in problem.headers
    assert "503" in row[2]
    assert "`Retry-After`" in row[2]


@pytest.mark.parametrize(
    ("status", "code"), [(row[0], first_code(row[1])) for row in table(PROBLEM_HEADER)]
)
def test_each_problem_of_the_api_itself_is_raised_in_its_sources(status: str, code: str) -> None:
    """Each code of the API's own problem table is a string the API's code answers with."""
    sources = "\n".join(path.read_text() for path in sorted(API_SOURCES.glob("*.py")))

    assert f'"{code}"' in sources
    assert status.isdigit()


def test_the_endpoint_table_is_the_apps_operations() -> None:
    """The page lists exactly the operations of the app's OpenAPI document."""
    service = PaymentService(InMemoryStorage(), {"credit_card": SandboxGateway()})
    document = create_app(service, authenticate=bearer_tokens).openapi()
    operations = {
        (method.upper(), path.removeprefix(DEFAULT_PREFIX))
        for path, methods in document["paths"].items()
        for method in methods
    }
    documented = [(first_code(row[0]), first_code(row[1])) for row in table(ENDPOINT_HEADER)]

    assert len(documented) == len(set(documented))
    assert set(documented) == operations
