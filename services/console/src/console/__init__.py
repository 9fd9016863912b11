"""The web console: review and approve plans, watch them execute, positions, PnL, trades."""
