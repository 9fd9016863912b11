"""The ledger's decisions and math: pure, synchronous, deterministic.

``trades``: order events to trade rows (fill + commission by exec_id, corrections);
``positions``: current positions and history from positions events; ``pnl``: PnL per
position and account; ``query``: checking GetTrades and its cursor; ``day``: the trading day.
"""
