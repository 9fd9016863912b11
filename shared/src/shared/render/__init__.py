"""Human views of contract messages (rich tables, CSV rows), shared by the CLI and reports."""
