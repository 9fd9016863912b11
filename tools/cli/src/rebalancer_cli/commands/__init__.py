"""The typer commands of ``rebalancer``, one module per concern; the work is elsewhere."""
