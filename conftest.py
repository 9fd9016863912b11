"""Root conftest: the shared fixtures (Redis servers) for every test of the workspace."""

pytest_plugins = ["rebalancer_testkit.fixtures"]
