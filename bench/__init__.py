"""quorate benchmarks on the network-namespace testbed: run them all with `python -m bench` (root)."""
