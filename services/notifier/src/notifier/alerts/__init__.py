"""Alerts out: destinations, per-destination workers, and the consumers feeding them."""
