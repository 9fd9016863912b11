"""The stack builder lives in ``rebalancer_testkit.e2e``; this name stays for
``bench/bench_executor.py``, which imports ``e2e_stack`` from this folder."""

from rebalancer_testkit.e2e import E2EStack, accounts_file

__all__ = ["E2EStack", "accounts_file"]
