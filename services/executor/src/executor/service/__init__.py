"""The executor's service layer: it executes the core's decisions (publish, apply, reports,
metrics, background tasks) and feeds the core the facts it waits for (fills, cash, time)."""
