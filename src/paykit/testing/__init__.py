"""Test helpers that ship with paykit: the storage contract and gateway conformance suites.

Every storage -- the in-memory reference, paykit's SQL storage, or one an integrator writes --
must behave the same way (``paykit.storage.base``). :class:`RepositoryContract` is that
promise as a pytest suite: subclass it, say how to build your storage, and pytest runs every
contract test against it::

    from paykit.storage import Storage
    from paykit.testing import RepositoryContract


    class TestMyStorage(RepositoryContract):
        def make_storage(self) -> Storage:
            return MyStorage(url="postgresql://localhost/paykit_test")

        def dispose_storage(self, storage: Storage) -> None:
            storage.drop_schema()  # optional: runs after each test, even a failed one

Each test gets a fresh storage from ``make_storage``. When building the storage needs other
pytest fixtures (``tmp_path``, a database server), override the ``storage`` fixture itself::

    class TestMySqliteStorage(RepositoryContract):
        def make_storage(self) -> Storage:
            raise NotImplementedError  # the fixture below builds it instead

        @pytest.fixture
        def storage(self, tmp_path: Path) -> Iterator[Storage]:
            storage = MyStorage(url=f"sqlite:///{tmp_path / 'paykit.db'}")
            yield storage
            storage.close()

The suite includes thread tests (the refund ceiling under eight racing units of work), so a
storage shared between threads must be safe to share.

Every gateway -- the sandbox, paykit's Stripe adapter, or one an integrator writes -- must
answer the ``Gateway`` protocol the same way (``paykit.gateways.base``).
:class:`GatewayConformance` is that promise as a pytest suite: subclass it and return a
:class:`GatewayHarness` that builds your gateway and says which payment-method token makes
the provider behave as a test needs (:class:`Behaviour`)::

    from paykit.gateways import Gateway
    from paykit.testing import Behaviour, GatewayConformance, GatewayHarness


    class MyHarness(GatewayHarness):
        supports = frozenset({"authorize", "void", "require_action", "timeout"})

        def __init__(self) -> None:
            self._gateway = MyGateway(api_key="test_key", transport=my_fake_provider)

        @property
        def gateway(self) -> Gateway:
            return self._gateway

        def token_for(self, behaviour: Behaviour) -> str:
            return {Behaviour.DECLINE: "tok_decline", ...}.get(behaviour, "tok_ok")


    class TestMyGateway(GatewayConformance):
        def make_harness(self) -> GatewayHarness:
            return MyHarness()

Tests of an optional capability that ``supports`` does not list are skipped with a reason
that names it. Each scenario runs ``[sync]`` and, for a gateway with ``*_async`` methods,
``[async]`` too: the same checks, awaiting the twins ``AsyncPaymentService`` awaits.
``docs/writing-a-gateway.md`` walks through a whole adapter and its harness.

``RunBeforeCommit`` wraps any storage so that a competing action runs just before the
first commit: deterministic race tests without patching (see ``paykit.testing.races``).

``FaultyGateway`` puts the sandbox behind an unreliable network -- refused connections,
timeouts after the provider acted, 5xx, 429, dropped responses, and webhooks delivered twice,
out of order, early or never -- chosen by a seeded ``FaultPlan`` so a failing run replays
exactly (see ``paykit.testing.faults``).

``FakeStripe`` (``paykit.testing.fake_stripe``, needs the ``stripe`` extra) and
``FakePayPal`` (``paykit.testing.fake_paypal``, needs the ``paypal`` extra) are scripted,
in-process providers behind ``httpx.MockTransport``, to test an application against the
Stripe and PayPal adapters offline. Their scripted faults and ``FaultyGateway``'s share one
vocabulary, :class:`FaultKind`.

The suites (``RepositoryContract``, ``GatewayConformance`` and their helpers) need pytest
installed (a development dependency, not a runtime one); the fakes, the fault injector and
``RunBeforeCommit`` do not. Each name that needs pytest or an extra is imported on first
use, so importing one part never requires another's dependencies. ``import paykit`` never
imports this package, so applications do not pay for it.
"""

import importlib
import sys
from typing import TYPE_CHECKING, Final

from paykit.testing.faults import FaultKind, FaultPlan, FaultyGateway
from paykit.testing.races import RunBeforeCommit

if sys.modules.get("pytest") is not None:
    # pytest rewrites asserts only in its own runs, where it is imported already. Registered
    # before the suites are imported, so a failing contract test explains itself
    # (``assert 2 == 3``) like a test in your own tree.
    import pytest

    pytest.register_assert_rewrite(
        "paykit.testing.repository_contract", "paykit.testing.gateway_conformance"
    )

if TYPE_CHECKING:
    from paykit.testing.fake_paypal import FakePayPal
    from paykit.testing.fake_stripe import FakeStripe
    from paykit.testing.gateway_conformance import (
        ASYNC_OPERATIONS,
        CAPABILITIES,
        Behaviour,
        ClientCounter,
        GatewayCalls,
        GatewayConformance,
        GatewayHarness,
        Side,
        gateway_calls,
        run_conformance_test,
    )
    from paykit.testing.repository_contract import RepositoryContract

__all__ = [
    "ASYNC_OPERATIONS",
    "CAPABILITIES",
    "Behaviour",
    "ClientCounter",
    "FakePayPal",
    "FakeStripe",
    "FaultKind",
    "FaultPlan",
    "FaultyGateway",
    "GatewayCalls",
    "GatewayConformance",
    "GatewayHarness",
    "RepositoryContract",
    "RunBeforeCommit",
    "Side",
    "gateway_calls",
    "run_conformance_test",
]

_HOMES: Final = {
    "CAPABILITIES": "paykit.testing.gateway_conformance",
    "Behaviour": "paykit.testing.gateway_conformance",
    "GatewayConformance": "paykit.testing.gateway_conformance",
    "GatewayHarness": "paykit.testing.gateway_conformance",
    "GatewayCalls": "paykit.testing.gateway_conformance",
    "Side": "paykit.testing.gateway_conformance",
    "ASYNC_OPERATIONS": "paykit.testing.gateway_conformance",
    "ClientCounter": "paykit.testing.gateway_conformance",
    "gateway_calls": "paykit.testing.gateway_conformance",
    "run_conformance_test": "paykit.testing.gateway_conformance",
    "RepositoryContract": "paykit.testing.repository_contract",
    "FakeStripe": "paykit.testing.fake_stripe",
    "FakePayPal": "paykit.testing.fake_paypal",
}
"""Where each name that needs pytest or an extra lives; imported on first use."""


def __getattr__(name: str) -> object:
    """A name of :data:`_HOMES`, from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    return getattr(importlib.import_module(home), name)
