"""The console's web layer: pages, actions, login, live events."""
