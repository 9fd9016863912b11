"""The operator CLI `rebalancer`."""
