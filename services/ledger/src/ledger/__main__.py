from ledger.main import run

run()
