"""``paykit automate``: the sweep, the proposals listing, approve and dismiss, exit codes."""

from __future__ import annotations

import json
import sys
from types import ModuleType

import pytest

from paykit import InMemoryStorage, Payment, PaymentService, SandboxGateway, SandboxToken
from paykit.automation import ActionMode, ActionStatus, AutomationSettings, DuplicateChargePolicy
from paykit.cli import main
from paykit.gateways import LedgerKind

HOST = "clihost_automation"


def _duplicate(service: PaymentService, token: str = SandboxToken.SUCCESS) -> Payment:
    """Pay order ``ord_1`` twice (the policy off); return the second payment."""
    card = service.add_payment_method("cus_1", type="credit_card", token=token)
    payments = []
    for _ in range(2):
        payment = service.create_payment(
            customer_id="cus_1",
            order_id="ord_1",
            payment_method_id=card.id,
            amount="12.00",
            currency="USD",
        )
        payments.append(service.process_payment(payment.id))
    return payments[1]


@pytest.fixture
def sandbox() -> SandboxGateway:
    """The host's gateway."""
    return SandboxGateway()


@pytest.fixture
def storage() -> InMemoryStorage:
    """The host's storage."""
    return InMemoryStorage()


def _host(
    monkeypatch: pytest.MonkeyPatch,
    storage: InMemoryStorage,
    sandbox: SandboxGateway,
    mode: ActionMode,
) -> PaymentService:
    """Install a host module whose ``service`` has the duplicate policy in ``mode``."""
    settings = AutomationSettings(duplicate_charge=DuplicateChargePolicy(mode=mode))
    service = PaymentService(storage, {"credit_card": sandbox}, automation=settings)
    module = ModuleType(HOST)
    module.service = service  # type: ignore[attr-defined]  # the host's configured service
    monkeypatch.setitem(sys.modules, HOST, module)
    monkeypatch.delenv("PAYKIT_SERVICE", raising=False)
    return service


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["automate", "--service", f"{HOST}:service", "--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_sweep_refunds_and_reports_per_policy(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    storage: InMemoryStorage,
    sandbox: SandboxGateway,
) -> None:
    """``paykit automate`` runs the sweep and prints what each policy did, as JSON too."""
    second = _duplicate(PaymentService(storage, {"credit_card": sandbox}))
    _host(monkeypatch, storage, sandbox, ActionMode.AUTO)

    code, out, _ = _run(capsys, "--json")

    assert code == 0
    report = json.loads(out)
    assert report["by_policy"] == {"duplicate_charge": {"done": 1}}
    assert [e.kind for e in sandbox.ledger_for(second.id)][-1] is LedgerKind.REFUND
    code, out, _ = _run(capsys)
    assert code == 0
    assert "examined" in out


def test_proposals_are_listed_approved_and_dismissed(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    storage: InMemoryStorage,
    sandbox: SandboxGateway,
) -> None:
    """A proposal made by the sweep is listed, then approved by a named person."""
    second = _duplicate(PaymentService(storage, {"credit_card": sandbox}))
    service = _host(monkeypatch, storage, sandbox, ActionMode.PROPOSE)
    _run(capsys)

    code, out, _ = _run(capsys, "--proposals", "--json")
    [proposal] = json.loads(out)
    assert (code, proposal["payment_id"], proposal["status"]) == (0, second.id, "proposed")

    assert _run(capsys, "--approve", proposal["id"])[0] == 2  # --by is required
    code, out, _ = _run(capsys, "--approve", proposal["id"], "--by", "erin")

    assert code == 0
    assert service.automation.get_action(proposal["id"]).status is ActionStatus.DONE
    log = service.get_transaction_log(second.id)
    assert any("approved by erin" in entry.message for entry in log)
    code, _, err = _run(capsys, "--dismiss", proposal["id"], "--by", "erin")
    assert code == 1
    assert "not proposed" in err


def test_a_failed_action_exits_1(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    storage: InMemoryStorage,
    sandbox: SandboxGateway,
) -> None:
    """A refund the provider refuses leaves a failed action and exit code 1 for cron."""
    _duplicate(PaymentService(storage, {"credit_card": sandbox}), SandboxToken.REFUND_FAIL)
    _host(monkeypatch, storage, sandbox, ActionMode.AUTO)

    code, out, _ = _run(capsys, "--json")

    assert code == 1
    assert json.loads(out)["by_policy"] == {"duplicate_charge": {"failed": 1}}


def test_without_a_service_it_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --service and no PAYKIT_SERVICE: exit code 2 and a one-line message."""
    monkeypatch.delenv("PAYKIT_SERVICE", raising=False)

    code = main(["automate"])

    assert code == 2
    assert "--service" in capsys.readouterr().err


def test_the_progress_bar_is_drawn_on_stderr(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    storage: InMemoryStorage,
    sandbox: SandboxGateway,
) -> None:
    """``--progress`` draws rich's bar on stderr; the report still goes to stdout."""
    _duplicate(PaymentService(storage, {"credit_card": sandbox}))
    _host(monkeypatch, storage, sandbox, ActionMode.DRY_RUN)

    code = main(["automate", "--service", f"{HOST}:service", "--progress", "--json"])
    out, err = capsys.readouterr()

    assert code == 0
    assert json.loads(out)["by_policy"] == {"duplicate_charge": {"dry_run": 1}}
    assert "automation" in err
