"""Synthesis orchestration: ``config`` (``SynthConfig``, presets), ``generate`` (one sequence from the scene and
sensors), ``synth`` (plan, stage, resume, pack), ``staging`` (the staged-sequence files), ``fanout`` (Dask),
``datasheet`` (DATASHEET.md) and ``toy`` (a tiny point-target store for tests)."""
