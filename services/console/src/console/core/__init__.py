"""Pure decisions of the console: security checks, order progress, alerts, CSV in and out."""
