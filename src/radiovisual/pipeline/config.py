"""The benchmark's config: one tree that nests every stage's config (see ``docs/benchmark.md``).

``benchmark --set pretrain.loss.queue_size=16`` reaches the same field as ``pretrain --set loss.queue_size=16``:
the subtrees ``synth``, ``pretrain``, ``selflabel``, ``localise``, ``cfar`` and ``teacher`` are the stages' own
frozen dataclasses. ``build_benchmark_config`` builds any preset of the whole tree.

What the benchmark sets per row (so the tree holds it once):

* ``pretrain.method``: each row's pretraining method (``PRETRAIN_OF``; ``mcl+track`` reuses ``mcl``);
* every stage ``seed``: derived from the master ``seed`` (seed index ``k``: ``seed + k``; a label-free
  re-pretraining adds ``1000 * attempt``), so ``synth.seed``, ``pretrain.seed`` and ``selflabel.seed`` are
  written as the master seed when the tree is built;
* ``selflabel.track``: on for ``mcl+track`` (``SELFLABEL_OF``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ..baselines.cfar_pipeline import CFAR_PRESETS, CFARConfig
from ..baselines.detections import DETECTION_PRESETS, DetectionConfig
from ..baselines.rodnet import TEACHER_PRESETS, TeacherConfig
from ..config import from_dict, load_yaml, merge, parse_overrides
from ..dataset.config import SYNTH_PRESETS, SynthConfig, rescale_splits
from ..errors import ConfigError
from ..localise.config import LOCALISE_PRESETS, LocaliserConfig
from ..localise.detector_config import DETECTOR_PRESETS, DetectorConfig
from ..pretrain.config import PRETRAIN_PRESETS, PretrainConfig
from ..selflabel.config import SELFLABEL_PRESETS, SelfLabelConfig

# label-free rows: pretrained methods (self-labels -> localiser) and the untrained floor ``peak``.
# ``mcl+track`` shares ``mcl``'s pretraining and differs only in its (sequence-aware) self-labels.
LABEL_FREE = ("mcl", "mcl+track", "mcl-attention", "mcl-paper", "scl", "scl-paper", "cl", "clip", "peak")
DEFAULT_METHODS = ("mcl", "mcl+track", "mcl-attention", "mcl-paper", "scl", "cl", "peak")
# benchmark row -> pretrain method (default: the row's name)
PRETRAIN_OF = {"mcl+track": "mcl", "mcl-attention": "mcl"}
# row -> self-label fields it changes. mcl-attention: the attention's own peak, nothing else (no camera model,
# no radar snap, no face -> centre geometry): what the learned cross-modal attention localises by itself
SELFLABEL_OF: dict[str, dict[str, Any]] = {"mcl+track": {"track": True},
                                           "mcl-attention": {"snap": False, "azimuth_map": False,
                                                             "face_prior": "off"}}
BASELINES = ("cfar-genie", "cfar", "rodnet")
OPTIONAL_BASELINES = ("pseudo",)   # pseudo-supervised (paper §5.2); automatic on an imported CRUW store
EVALS = ("probe", "retrieval")
# localise: one target per frame, p50/p90 [m] (the paper's tables); detection: every object, AP/AR (issue 20,
# pipeline/detection.py)
TASKS = ("localise", "detection")

# stage subtree -> its presets table; a preset of one name is looked up in every table (composition)
STAGE_PRESETS: dict[str, Mapping[str, Mapping[str, Any]]] = {
    "synth": SYNTH_PRESETS, "pretrain": PRETRAIN_PRESETS, "selflabel": SELFLABEL_PRESETS,
    "localise": LOCALISE_PRESETS, "cfar": CFAR_PRESETS, "teacher": TEACHER_PRESETS,
    "detector": DETECTOR_PRESETS, "detections": DETECTION_PRESETS}


@dataclass(frozen=True)
class BenchmarkConfig:
    preset: str = ""                 # the preset the tree was built from (recorded for the report only)
    task: str = "localise"           # localise | detection (TASKS)
    seed: int = 0                    # master seed: every stage seed derives from it (module docstring)
    methods: tuple[str, ...] = DEFAULT_METHODS
    baselines: tuple[str, ...] = BASELINES
    seeds: int = 1                   # seeds per method: pretraining, self-labels and localiser (mean +- std)
    data: str = ""                   # an existing complete dataset store to use instead of OUT/data
    eval_data: str = ""              # also score every row on this store's val split (a held-out scenario)
    pretrain_retries: int = 1        # mcl: re-pretrain (seed + 1000) when the label-free proxies fail
    # proxy threshold: robust residual of the learned column->azimuth map; about one half-power beamwidth of
    # the 16-element lambda/2 array (0.886 * 2 / 16 = 0.11 rad): a map missing the returns by a beam does not localise
    # 0: the health check's own limit, the store's half-power beamwidth (selflabel.health); > 0: also this one
    max_map_residual_rad: float = 0.0
    # restarts that cost little: the health check runs on the model paused at this fraction of its pretraining
    # steps (0: only after the full run); a failing run is dropped there and another seed pretrained
    health_probe_at: float = 0.35
    n: int = 0                       # > 0: rescale synth.splits to n samples when the tree is built (then 0)
    export_examples: int = 6
    # supervised *evaluations* of each pretraining (seed 0): "probe" (linear probe), "retrieval" (Recall@k)
    evals: tuple[str, ...] = ()
    # the stages' own configs (same keys as each command's --set)
    synth: SynthConfig = field(default_factory=SynthConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    selflabel: SelfLabelConfig = field(default_factory=SelfLabelConfig)
    localise: LocaliserConfig = field(default_factory=LocaliserConfig)
    cfar: CFARConfig = field(default_factory=CFARConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)   # RODNet-style teacher (+ teacher.cfar)
    # --task detection: the radar-only multi-object detector (every detector row) and the baselines' detections
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    detections: DetectionConfig = field(default_factory=DetectionConfig)

    @property
    def scenario(self) -> str:
        return self.synth.scenario

    def validate(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"unknown task '{self.task}' (choose from {', '.join(TASKS)})")
        bad = [m for m in self.methods if m not in LABEL_FREE]
        if bad:
            raise ConfigError(f"unknown method '{bad[0]}' (choose from {', '.join(LABEL_FREE)} or 'all')")
        bad = [b for b in self.baselines if b not in BASELINES + OPTIONAL_BASELINES]
        if bad:
            raise ConfigError(f"unknown baseline '{bad[0]}' (choose from {', '.join(BASELINES + OPTIONAL_BASELINES)})")
        bad = [e for e in self.evals if e not in EVALS]
        if bad:
            raise ConfigError(f"unknown evaluation '{bad[0]}' (choose from {', '.join(EVALS)})")
        if self.seeds < 1:
            raise ConfigError("seeds must be >= 1")
        if not 0 <= self.health_probe_at < 1:
            raise ConfigError("health_probe_at must be in [0, 1)")
        if self.pretrain_retries < 0 or self.max_map_residual_rad < 0:
            raise ConfigError("pretrain_retries must be >= 0 and max_map_residual_rad >= 0")
        if self.n < 0:
            raise ConfigError("n must be >= 0")

    # ---------------------------------------------------------------- per-row stage configs
    def pretrain_for(self, row: str, seed: int) -> PretrainConfig:
        return replace(self.pretrain, method=PRETRAIN_OF.get(row, row), seed=int(seed))

    def selflabel_for(self, row: str, seed: int) -> SelfLabelConfig:
        return replace(self.selflabel, **SELFLABEL_OF.get(row, {}), seed=int(seed))


# top-level fields of each benchmark preset; the stage subtrees come from the stage presets of the same name
BENCH_PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"methods": ["mcl", "mcl+track", "peak"]},
    "quick": {},
    "paper": {"methods": list(DEFAULT_METHODS) + ["clip"], "seeds": 3},
}


def _preset_tree(preset: str) -> dict[str, Any]:
    if preset not in BENCH_PRESETS:
        raise ConfigError(f"unknown preset '{preset}' (choose from {', '.join(BENCH_PRESETS)})")
    tree: dict[str, Any] = {"preset": preset}
    for stage, table in STAGE_PRESETS.items():
        tree[stage] = dict(table.get(preset, {}))   # no preset of that name (selflabel): the defaults
    return merge(tree, BENCH_PRESETS[preset])


def build_benchmark_config(preset: str | None = "quick", yaml_path: str | None = None,
                           overrides: list[str] | None = None,
                           extra: Mapping[str, Any] | None = None) -> BenchmarkConfig:
    """The whole tree: stage presets of one name <- benchmark preset <- YAML <- ``extra`` <- dotted ``--set``.

    ``scenario`` (a top-level key of older configs) is accepted as ``synth.scenario``; the ``*_overrides``
    and ``*_preset`` keys of older configs are refused in one line naming the new keys.
    """
    data: dict[str, Any] = _preset_tree(preset) if preset else {}
    for src in (load_yaml(yaml_path) if yaml_path else {}, dict(extra or {}), parse_overrides(overrides)):
        src = dict(src)
        old = sorted(k for k in src if k.endswith(("_overrides", "_preset")))
        if old:
            stage = old[0].rsplit("_", 1)[0]
            raise ConfigError(f"'{old[0]}' is gone: set the stage's fields directly, e.g. "
                              f"--set {stage}.<field>=... (see `radiovisual config --preset quick`)")
        if "scenario" in src:
            src = merge(src, {"synth": {"scenario": src.pop("scenario")}})
        data = merge(data, src)
    cfg = from_dict(BenchmarkConfig, data)
    synth = replace(cfg.synth, seed=cfg.seed)
    if cfg.n:
        synth = rescale_splits(synth, cfg.n)
    return replace(cfg, n=0, synth=synth, pretrain=replace(cfg.pretrain, seed=cfg.seed),
                   selflabel=replace(cfg.selflabel, seed=cfg.seed))
