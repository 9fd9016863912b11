"""A plan's life as every reader sees it: one status vocabulary, one transitions table and one
fold of ``events.plans.v1`` (the executor, the notifier's API and the CLI all use it)."""
