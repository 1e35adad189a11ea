"""The fakes live in paykit.testing, load only when used, and keep their old import paths."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap

import pytest

import paykit.testing
import paykit.testing.faults
from paykit.testing import fake_paypal, fake_stripe

_OLD_NAMES = {
    "paykit.gateways.stripe": (fake_stripe, ["FakeStripe", "FakeToken", "Fault"]),
    "paykit.gateways.paypal": (
        fake_paypal,
        [
            "FakePayPal",
            "FakePayer",
            "FakeVault",
            "Fault",
            "LedgerLine",
            "RecordedRequest",
            "WebhookSigner",
        ],
    ),
}


def _loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    script = textwrap.dedent(code) + "\nimport sys\nprint('\\n'.join(sorted(sys.modules)))\n"
    completed = subprocess.run(  # noqa: S603 - runs our own snippet in a clean interpreter
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return set(completed.stdout.split())


@pytest.mark.parametrize("adapter", sorted(_OLD_NAMES))
def test_the_adapter_alone_never_loads_its_fake(adapter: str) -> None:
    """Importing an adapter and using its gateway class loads nothing of paykit.testing."""
    gateway = "StripeGateway" if adapter.endswith("stripe") else "PayPalGateway"
    loaded = _loaded_after(f"from {adapter} import {gateway}")

    assert adapter in loaded
    assert not {name for name in loaded if name.startswith("paykit.testing")}


@pytest.mark.parametrize("adapter", sorted(_OLD_NAMES))
def test_the_old_import_path_loads_the_fake_on_first_use(adapter: str) -> None:
    """``from paykit.gateways.<provider> import Fake...`` still works, loading the fake then."""
    home, names = _OLD_NAMES[adapter]
    loaded = _loaded_after(f"from {adapter} import {', '.join(names)}")

    assert home.__name__ in loaded


@pytest.mark.parametrize(
    ("adapter", "name"),
    [(adapter, name) for adapter, (_, names) in sorted(_OLD_NAMES.items()) for name in names],
)
def test_the_old_import_path_gives_the_same_objects(adapter: str, name: str) -> None:
    """Each old name is the very object of the fake's new home, and stays in ``__all__``."""
    home, _ = _OLD_NAMES[adapter]
    module = importlib.import_module(adapter)

    assert getattr(module, name) is getattr(home, name)
    assert name in module.__all__


def test_paypals_old_fault_kind_is_the_one_vocabulary() -> None:
    """``paykit.gateways.paypal.FaultKind`` is now ``paykit.testing.faults.FaultKind``."""
    from paykit.gateways.paypal import FaultKind  # noqa: PLC0415 - the old path under test

    assert FaultKind is paykit.testing.faults.FaultKind


@pytest.mark.parametrize("module", ["paykit.gateways.stripe", "paykit.gateways.paypal"])
def test_an_unknown_name_is_still_an_attribute_error(module: str) -> None:
    """The lazy re-export answers only the fake's names."""
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        getattr(importlib.import_module(module), "Nothing")  # noqa: B009 - the lookup under test


def test_paykit_testing_exports_both_fakes() -> None:
    """``paykit.testing`` exports the fakes, each from its own module."""
    assert paykit.testing.FakeStripe is fake_stripe.FakeStripe
    assert paykit.testing.FakePayPal is fake_paypal.FakePayPal
    assert {"FakeStripe", "FakePayPal", "FaultKind"} <= set(paykit.testing.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        getattr(paykit.testing, "Nothing")  # noqa: B009 - the lookup under test


def test_paykit_testing_loads_neither_provider_nor_suite_until_asked() -> None:
    """``import paykit.testing`` loads no provider SDK, no fake and no suite."""
    loaded = _loaded_after("import paykit.testing")

    assert "paykit.testing.faults" in loaded
    assert not loaded & {
        "stripe",
        "cryptography",
        "paykit.testing.fake_stripe",
        "paykit.testing.fake_paypal",
        "paykit.testing.gateway_conformance",
        "paykit.testing.repository_contract",
    }


def test_the_fakes_and_the_fault_injector_need_no_pytest() -> None:
    """Without pytest, the fakes and ``FaultyGateway`` import; the suites say what they need."""
    loaded = _loaded_after(
        """
        import sys

        sys.modules["pytest"] = None  # as if pytest were not installed
        from paykit.testing import FaultyGateway, FakeStripe, FakePayPal
        try:
            from paykit.testing import RepositoryContract
        except ModuleNotFoundError as error:
            assert "pytest" in str(error), error
        else:
            raise AssertionError("the storage suite imported without pytest")
        """
    )

    assert {"paykit.testing.fake_stripe", "paykit.testing.fake_paypal"} <= loaded
