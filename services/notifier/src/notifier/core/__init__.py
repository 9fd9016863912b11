"""Pure decisions of the notifier: parsing, validation, signing, folding. No I/O here."""
