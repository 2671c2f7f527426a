"""Benchmark commands that print medians: speed goals are checked here, never by timed tests."""
