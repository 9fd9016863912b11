"""ib_emulator."""
