"""Benchmarks behind ``semgen bench NAME``: each module has ``add_arguments(parser)`` and
``run(args) -> dict``; the dict is printed as the last line, as JSON."""
