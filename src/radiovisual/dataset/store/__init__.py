"""The on-disk format every reader needs: ``format`` (format v1: open, read, write, the ground-truth guard,
polar/bin conversions), ``resolution`` (a store's grid in resolution cells), ``inspect`` (info, verify, show)."""
