"""Time-stepped cores. Private: the public wrappers validate, allocate and dispatch."""
