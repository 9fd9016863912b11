"""Test support shared by every service's tests (a pytest plugin: ``shared.testing.fixtures``)."""
