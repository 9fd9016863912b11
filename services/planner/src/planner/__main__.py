from planner.main import run

run()
