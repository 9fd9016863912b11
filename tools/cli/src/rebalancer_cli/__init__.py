"""The operator CLI `rebalancer` (its own distribution: the service images do not carry it)."""
