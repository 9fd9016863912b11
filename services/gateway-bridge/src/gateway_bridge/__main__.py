from gateway_bridge.main import run

run()
