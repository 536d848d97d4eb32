"""Metrics (paper §5.3, Tab. 7) and the one scorer.

* ``metrics``: pure functions (location errors, percentiles, seed summaries, D_W / D_KL / MI).
* ``score``: predictions + dataset -> metrics; the only place that reads ground truth to score.
"""
