"""Business rules that more than one service applies, written once (pure: no I/O).

* ``targets``: read target weights (rows, CSV, mappings) and check them;
* ``ids``: plan ids and the client order id ``<plan_id>.<leg>.<attempt>``;
* ``costs``: commission estimates, quantity steps and the one buy sizer;
* ``exposure``: valuation prices, gross exposure and leverage.

The notifier checks targets at its edge, the planner at resolution, the CLI at file load; the
planner sizes buys at planning and the executor again from the cash after the sells, with the
same sizer. Each caller keeps only its own reaction to a problem (refuse, reject, exit 2).
"""
