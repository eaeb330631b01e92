"""Benchmarks: plain scripts that print a figure and the machine it was measured on."""
