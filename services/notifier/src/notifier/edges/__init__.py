"""The edges where triggers come in: Redis channel, HTTP API, Ably, schedules."""
