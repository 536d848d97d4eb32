"""Scene stage: scenario layouts (parking lot, suburban, street canyon) as a ``World``."""
