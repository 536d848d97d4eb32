"""Metrics: location errors and percentiles (paper §5.3), self-label deviation (Tab. 7)."""
