from notifier.main import run

run()
