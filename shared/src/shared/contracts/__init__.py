"""Message contracts: one module per stream of the catalogue (see ``catalogue``).

Import messages from their stream's module, e.g. ``from shared.contracts.orders import
OrderFilled``; use ``catalogue.stream_of(message)`` to find where a message goes.
"""
