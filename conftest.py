"""Root conftest: the shared fixtures (Redis servers) for every test of the workspace."""

# pytest's importlib mode names shared/tests/test_x.py "shared.tests.test_x" and registers a
# placeholder "shared" module for the folder unless the real package was imported first.
import shared.contracts  # noqa: F401

pytest_plugins = ["rebalancer_testkit.fixtures"]
