"""Service kit: settings, logging, broker, subscriptions, ops endpoints, shared by services."""
