"""The executor's decisions, pure and synchronous: state machine, risk gate, sizing, orders."""
