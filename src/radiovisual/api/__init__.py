"""The public Python API, re-exported by ``radiovisual`` itself (``import radiovisual``); see ``docs/python.md``.

``data.py``: ``PairedDataset`` (a ``torch.utils.data.Dataset`` over any split); ``runs.py``: ``load_run``,
``load_backbones``, ``load_localiser``, ``new_localiser``, ``predict``, ``make_selflabels``, ``load_labels``,
``label_health``, ``score``. This layer composes every stage, so it sits on top with ``cli``; nothing below
imports it.
"""
