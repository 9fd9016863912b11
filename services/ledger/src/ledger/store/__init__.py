"""The ledger's storage: the ``LedgerStore`` port, SQLite (default) and PostgreSQL adapters."""
