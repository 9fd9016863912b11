"""ledger: the trade ledger, position history and PnL (a read-side service)."""
