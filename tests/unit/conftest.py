"""Unit-test setup for the Lambdas (create_order, stream_processor, order_worker, high_value,
high_value_enricher): import paths, environment, fakes, and the fixtures every handler's tests share.

No AWS, no network: each handler gets in-memory fakes through its ``set_...`` functions, and AWS
clients through ``orderlab_runtime.set_client`` (:func:`handler_client`), stubbed with botocore's
``Stubber`` (:func:`stubbed_client`).
"""

from __future__ import annotations

import copy
import io
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from helpers.aws.packaging import SHARED_MODULES_DIR

_HERE = Path(__file__).resolve().parent
CREATE_ORDER_ROOT = _HERE.parents[1] / "lambdas" / "create_order"
STREAM_PROCESSOR_ROOT = _HERE.parents[1] / "lambdas" / "stream_processor"
ORDER_WORKER_ROOT = _HERE.parents[1] / "lambdas" / "order_worker"
HIGH_VALUE_ROOT = _HERE.parents[1] / "lambdas" / "high_value"
HIGH_VALUE_ENRICHER_ROOT = _HERE.parents[1] / "lambdas" / "high_value_enricher"

FUNCTION_ROOTS = (
    CREATE_ORDER_ROOT,
    STREAM_PROCESSOR_ROOT,
    ORDER_WORKER_ROOT,
    HIGH_VALUE_ROOT,
    HIGH_VALUE_ENRICHER_ROOT,
)

for _path in (*FUNCTION_ROOTS, SHARED_MODULES_DIR, _HERE):
    # SHARED_MODULES_DIR: `import orderlab_runtime` as in a zip; _HERE: `import events` under any import mode
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# The handlers read these at import (cold start) and refuse to load without them.
os.environ.setdefault("ORDERS_TABLE", "orders-unit-test")
os.environ.setdefault("ORDER_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/123456789012/orders-unit-test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")

from helpers.learn.events import FakeLambdaContext  # noqa: E402 (needs the sys.path and environment set above)


def _like_dynamodb(value: Any) -> Any:
    """Return ``value`` as DynamoDB would hand it back: numbers as normalised Decimals."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        raise TypeError("Float types are not supported. Use Decimal types instead.")  # as boto3 says
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
        return Decimal(int(number)) if number == number.to_integral_value() else number.normalize()
    if isinstance(value, Mapping):
        return {key: _like_dynamodb(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return [_like_dynamodb(inner) for inner in value]
    raise TypeError(f"Unsupported type for the fake store: {type(value).__name__}")


class InMemoryOrderStore:
    """An ``OrderStore`` in a dict, with DynamoDB's conditional-put and number semantics."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.put_attempts: list[dict[str, Any]] = []

    def put_new(self, item: Mapping[str, Any]) -> bool:
        self.put_attempts.append(copy.deepcopy(dict(item)))
        order_id = item["orderId"]
        if order_id in self.items:
            return False
        self.items[order_id] = _like_dynamodb(dict(item))
        return True

    def get(self, order_id: str) -> dict[str, Any] | None:
        stored = self.items.get(order_id)
        return copy.deepcopy(stored) if stored is not None else None


@pytest.fixture
def handler_module() -> Any:
    from create_order import handler

    return handler


@pytest.fixture
def store(handler_module: Any, swap_dependency: Callable[..., Any]) -> InMemoryOrderStore:
    return swap_dependency(handler_module.set_store, InMemoryOrderStore())


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


# --------------------------------------------------------------------------- what every handler's tests share


@pytest.fixture
def stubbed_client() -> Iterator[Callable[[str], tuple[Any, Any]]]:
    """Make ``(client, stubber)`` for a service: a real boto3 client behind an active botocore
    ``Stubber`` (no network). Every response a test queued must have been used by its end."""
    boto3 = pytest.importorskip("boto3")
    from botocore.stub import Stubber

    made: list[Stubber] = []

    def make(service: str) -> tuple[Any, Stubber]:
        client = boto3.client(
            service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        stubber = Stubber(client)
        stubber.activate()
        made.append(stubber)
        return client, stubber

    yield make
    for stubber in made:
        stubber.deactivate()
    for stubber in made:
        stubber.assert_no_pending_responses()


class StubbedLab:
    """Just enough of ``helpers.core.lab.Lab`` for the provisioning helpers: prefix ``alice``, names, tags,
    region, account, and one botocore-stubbed client per service: ``lab.stub("sqs").add_response(...)``."""

    prefix, region, account_id = "alice", "us-east-1", "123456789012"

    def __init__(self, make_client: Callable[[str], tuple[Any, Any]]) -> None:
        self._make_client = make_client
        self.clients: dict[str, Any] = {}
        self.stubs: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self.clients:
            self.clients[service], self.stubs[service] = self._make_client(service)
        return self.clients[service]

    def stub(self, service: str) -> Any:
        self.client(service)
        return self.stubs[service]

    def name(self, component: str) -> str:
        return f"{self.prefix}-{component}"

    @property
    def tags(self) -> dict[str, str]:
        from helpers.core.naming import tags_for

        return tags_for(self.prefix)


@pytest.fixture
def stubbed_lab(stubbed_client: Callable[[str], tuple[Any, Any]]) -> StubbedLab:
    """A :class:`StubbedLab`; every response a test queued must have been used by its end."""
    return StubbedLab(stubbed_client)


@pytest.fixture
def handler_client() -> Iterator[Callable[[str, Any], Any]]:
    """Give the handlers ``client`` as their boto3 client for a service
    (``orderlab_runtime.client(service)``) for the test's duration; returns it."""
    import orderlab_runtime

    swapped: list[str] = []

    def swap(service: str, client: Any) -> Any:
        orderlab_runtime.set_client(service, client)
        swapped.append(service)
        return client

    yield swap
    for service in swapped:
        orderlab_runtime.set_client(service, None)


@pytest.fixture
def freeze_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], datetime]:
    """Stop the handlers' clock (``orderlab_runtime.utcnow``) at a given time; returns it."""
    import orderlab_runtime

    def freeze(moment: datetime) -> datetime:
        monkeypatch.setattr(orderlab_runtime, "utcnow", lambda: moment)
        return moment

    return freeze


@pytest.fixture
def logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON log lines the handlers write during the test, parsed."""
    from aws_lambda_powertools import Logger

    # Every handler logs as service "orders": Powertools gives them one logger and one handler,
    # bound to stdout when the first of them was imported.
    log_handler = Logger(service="orders").registered_handler
    stream = io.StringIO()
    previous = log_handler.setStream(stream)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        log_handler.setStream(previous)


@pytest.fixture
def swap_dependency() -> Iterator[Callable[[Callable[[Any], None], Any], Any]]:
    """Give a handler a fake through one of its ``set_...`` functions for the test; returns the fake.
    Each setter gets None back at the end (the default, built lazily again)::

        queue = swap_dependency(handler.set_queue, FakeOrderQueue())
    """
    setters: list[Callable[[Any], None]] = []

    def swap(setter: Callable[[Any], None], replacement: Any) -> Any:
        setter(replacement)
        setters.append(setter)
        return replacement

    yield swap
    for setter in reversed(setters):
        setter(None)


@pytest.fixture
def default_dependency(swap_dependency: Callable[..., Any]) -> Callable[..., Any]:
    """What a handler builds by itself (``get_...`` after ``set_...(None)``), asserted to be built once and
    reused by the next call; reset after the test::

        store = default_dependency(handler.get_store, handler.set_store)
    """

    def build(getter: Callable[[], Any], setter: Callable[[Any], None]) -> Any:
        swap_dependency(setter, None)
        built = getter()
        assert getter() is built
        return built

    return build


@pytest.fixture
def cold_start_error() -> Callable[..., str]:
    """Import ``<function>.handler`` in a fresh Python, as a cold start from its zip: the test environment
    without ``unset``, plus ``settings``. Asserts the import fails; returns its stderr::

        assert "ORDERS_TABLE" in cold_start_error("create_order", unset=["ORDERS_TABLE"])
        assert "TRANSIENT_FAILURES" in cold_start_error("order_worker", TRANSIENT_FAILURES="-1")
    """
    import subprocess

    def run(function: str, *, unset: Sequence[str] = (), **settings: str) -> str:
        env = {key: value for key, value in os.environ.items() if key not in unset}
        function_root = _HERE.parents[1] / "lambdas" / function
        env.update(settings, PYTHONPATH=os.pathsep.join([str(function_root), str(SHARED_MODULES_DIR)]))
        result = subprocess.run(
            [sys.executable, "-c", f"import {function}.handler"],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0, f"{function}.handler imported, it should have refused to start"
        return result.stderr

    return run


# --------------------------------------------------------------------------- standalone zip layouts

# What AWS's Python Lambda runtimes provide besides the standard library.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3")

_NETWORK_ERRORS = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "Max retries exceeded",
)


@pytest.fixture(scope="session")
def boto3_runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding (symlinks to) boto3 and its dependencies only: the runtime's copy."""
    import importlib.util

    target = tmp_path_factory.mktemp("lambda-runtime")
    for name in RUNTIME_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, f"{name} is not installed"
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (target / source.name).symlink_to(source, target_is_directory=source.is_dir())
    return target


@pytest.fixture(scope="session")
def lambda_bundle(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """Build a function's deployment zip as deploying does (``helpers.aws.packaging``: its package,
    the shared modules and its requirements, installed for the Lambda platform, manylinux x86_64,
    wheels only) but for the CPython running the tests (``run_standalone`` runs it on that one),
    and unpack it into a directory. Call it with the function's folder; the result is cached per
    folder. The zip comes from deploying's own build cache (``build/lambda``, keyed by a hash of
    its inputs): the tests' deploys, the other worker and this fixture build each zip once for
    the session. Skips (does not fail) only when PyPI cannot be reached at all.
    """
    import zipfile

    from helpers.aws.packaging import PackagingError, build_lambda_package

    built: dict[Path, Path] = {}

    def build(function_dir: Path) -> Path:
        function_dir = function_dir.resolve()
        if function_dir in built:
            return built[function_dir]
        try:
            package = build_lambda_package(
                function_dir, python_version=f"{sys.version_info.major}.{sys.version_info.minor}"
            )
        except PackagingError as error:
            if any(marker in str(error) for marker in _NETWORK_ERRORS):
                pytest.skip(f"PyPI unreachable, cannot build the zip: {str(error)[-300:]}")
            raise
        target = tmp_path_factory.mktemp(function_dir.name + "-unzipped")
        with zipfile.ZipFile(package.zip_path) as archive:
            archive.extractall(target)
        built[function_dir] = target
        return target

    return build


@pytest.fixture(scope="session")
def run_standalone(boto3_runtime_dir: Path):
    """Run code as the Lambda runtime would: ``python -I -S`` (no site-packages, no PYTHON*
    variables), only the zip layout and the runtime's boto3 on sys.path. Call it with the
    layout directory, the code and the function's environment; ``extra_args`` are the code's
    ``sys.argv[3:]``. Returns the CompletedProcess.
    """

    def run(bundle: Path, code: str, env: Mapping[str, str], extra_args: Sequence[str] = ()) -> Any:
        return _run_standalone(bundle, boto3_runtime_dir, code, env, extra_args)

    return run


def _run_standalone(
    bundle: Path, runtime: Path, code: str, env: Mapping[str, str], extra_args: Sequence[str] = ()
) -> Any:
    import subprocess

    probe = "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n" + code
    clean_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "ORDER", "MAX_", "BLOCKED_", "DISCONTINUED_", "TRANSIENT_", "FAULT_"))
    }
    clean_env.update(env)
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(bundle), str(runtime), *extra_args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env,
        check=False,
    )
