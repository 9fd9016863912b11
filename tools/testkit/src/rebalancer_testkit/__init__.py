"""Test support shared by every service's tests (a pytest plugin: ``rebalancer_testkit.fixtures``)."""
