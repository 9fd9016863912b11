from executor.main import run

run()
