"""The paper's Tables 1 to 4 at reduced scale: which variants, the paper's
numbers, and the one training recipe every variant of a table shares
(used by `nbf-reproduce`).

A variant is an ablation of `configs/ablations.py` plus, for Table 4, the
share of training samples that keep their 3D labels, and for Table 2 whether
it trains on a segmenter's predicted part maps. Table 2 also trains that
segmenter, with the recipe of `SegmenterBudget`. The paper's numbers are
those of `docs/paper_results.md`: real data (UP-3D) and the real SMPL model,
so they are anchors, not targets, for runs on synthetic data.
"""
import dataclasses

from neural_body_fitting.configs import ablations, demo, experiments, segmentation


@dataclasses.dataclass(frozen=True)
class Variant:
    label: str  # The paper's name of the row.
    ablation: str  # A variant of configs/ablations.py.
    paper: dict  # Evaluation summary key (mean_err_joints3D, ...) -> the paper's value.
    fraction_3d: float = 1.0  # Share of training samples whose latent flag is 1.
    predicted_parts: bool = False  # Trains on the segmenter's part maps, not the true ones.

    @property
    def train_split(self):
        return fraction_split(self.fraction_3d)

    @property
    def num_landmarks(self):
        """Landmarks the variant's data must store (24 for Table 1's joints24)."""
        return ablations.get_config(self.ablation).data.num_landmarks


def fraction_split(fraction_3d):
    """The training list: `train`, or for fewer 3D labels a re-flagged copy (`train_3d020`)."""
    return "train" if fraction_3d == 1.0 else f"train_3d{round(100 * fraction_3d):03d}"


@dataclasses.dataclass(frozen=True)
class Table:
    title: str
    paper_source: str  # What the paper's numbers measure.
    variants: dict  # name -> Variant, in the paper's order.
    # Each variant is evaluated on the held-out split of both the true and the
    # predicted part maps (Table 2), which needs a trained segmenter.
    cross_evaluation: bool = False


def _paper(err_joints3D=None, err_quat=None):
    """The paper's numbers of a row, under the keys of our evaluation summary."""
    values = {"mean_err_joints3D": err_joints3D, "mean_err_quat": err_quat}
    return {key: value for key, value in values.items() if value is not None}


def _table4():
    paper = {"100": 83.1, "020": 82.8, "000": 198.0}
    return {f"3d{percent}": Variant(
        f"{int(percent)}% of samples with 3D labels", f"table4_3d{percent}",
        _paper(paper.get(percent)),
        fraction_3d=int(percent) / 100) for percent in ablations.TABLE4_FRACTIONS}


TABLES = {
    "table1": Table("Table 1: the stage-2 input", "UP-3D, 3D joint error (mm)", {
        "rgb": Variant("RGB image", "table1_rgb", _paper(98.5)),
        "parts1": Variant("segmentation, 1 part", "table1_parts1", _paper(95.5)),
        "parts3": Variant("segmentation, 3 parts", "table1_parts3", _paper(36.5)),
        "parts6": Variant("segmentation, 6 parts", "table1_parts6", _paper(29.4)),
        "parts12": Variant("segmentation, 12 parts", "table1_parts12", _paper(27.8)),
        "parts24": Variant("segmentation, 24 parts", "table1_parts24", _paper(28.8)),
        "joints14": Variant("joint maps, 14 joints", "table1_joints14", _paper(28.8)),
        "joints24": Variant("joint maps, 24 joints", "table1_joints24", _paper(27.7)),
    }),
    "table2": Table("Table 2: ground-truth against predicted part maps",
                    ("Table 2's values are not held here; Table 1's 12-part row, 27.8 mm, "
                     "is on true maps, Table 3's rows, 82-84 mm, on predicted ones"), {
        "gt": Variant("ground-truth 12-part maps", "table1_parts12", {}),
        "predicted": Variant("predicted 12-part maps", "table1_parts12", {},
                             predicted_parts=True),
    }, cross_evaluation=True),
    "table3": Table("Table 3: which losses to use",
                    "UP-3D validation, predicted segmentations, 3D joint error (mm)", {
        "lat": Variant("L_lat", "table3_lat", _paper(83.7)),
        "lat_3d": Variant("L_lat + L_3D", "table3_lat_3d", _paper(82.3)),
        "lat_2d": Variant("L_lat + L_2D", "table3_lat_2d", _paper(83.1)),
        "lat_3d_2d": Variant("L_lat + L_3D + L_2D", "table3_lat_3d_2d", _paper(82.0)),
        "3d": Variant("L_3D alone", "table3_3d", _paper(83.7, err_quat=1.962)),
        "2d": Variant("L_2D alone", "table3_2d", _paper(198.0)),
    }),
    "table4": Table("Table 4: how much 3D supervision is needed",
                    "3D joint error (mm)", _table4()),
}


# The recipe and data of `make demo`: the defaults of `Budget`.
_DEMO = experiments.get_experiment("demo")


@dataclasses.dataclass(frozen=True)
class Budget:
    """The reduced-scale recipe: the same for every variant of a table, never tuned per variant.

    Its defaults are the `demo` experiment's recipe and data (configs/demo.py),
    the shortest found to learn the articulated pose on a 2-core CPU: 96 px
    (at 64 px the Procrustes error stayed at the mean pose's after 800
    steps), a learning rate of 1e-3 decayed to 0 (a constant one left the
    curve noisy), ~0.3 s per step, about 7 minutes per variant with its
    validations (README: "Reproducing the paper's tables").
    """
    input_size: int = _DEMO.data.input_size
    steps: int = _DEMO.runtime.max_steps
    batch_size: int = _DEMO.optim.batch_size
    num_train: int = demo.NUM_TRAIN
    num_test: int = demo.NUM_TEST
    lr: float = _DEMO.optim.lr
    lr_policy: str = _DEMO.optim.lr_policy
    # Further config values of every variant ({dotted key: value}; `with_overrides`).
    config_overrides: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for name in ("input_size", "steps", "batch_size", "num_train", "num_test"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"--{name}: must be a whole number of at least 1, got "
                                 f"{getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"--lr: must be positive, got {self.lr!r}")


# The budget's fields that are config keys, so `--config.<key>` sets the field.
BUDGET_KEYS = {"data.input_size": "input_size", "runtime.max_steps": "steps",
               "optim.batch_size": "batch_size", "optim.lr": "lr",
               "optim.lr_policy": "lr_policy"}
# What each variant sets itself (its ablation, its data, the body model of
# the table's data): no budget may change them.
VARIANT_KEYS = ("stage", "data.input_type", "data.num_landmarks", "loss.terms",
                "model.body_model", "runtime.dataset_root", "runtime.train_split",
                "runtime.eval_split")


def with_overrides(budget, overrides, fields_given=()):
    """`budget` with config overrides ({dotted key: value}, `--config.<key>`).

    A key of `BUDGET_KEYS` sets its field, so one budget is recorded one way
    whichever way it was given; other keys join `config_overrides`.
    ValueError for a key of `VARIANT_KEYS`, or for the key of a field also
    in `fields_given` (set twice).
    """
    fields, config_overrides = {}, dict(budget.config_overrides)
    for key, value in overrides.items():
        if key in VARIANT_KEYS or key.startswith("loss.terms."):
            raise ValueError(f"--config.{key}: set by each variant of the table, not by the "
                             "budget")
        if key not in BUDGET_KEYS:
            config_overrides[key] = value
        elif BUDGET_KEYS[key] in fields_given:
            raise ValueError(f"--config.{key} and --{BUDGET_KEYS[key]} both set it; give one")
        else:
            fields[BUDGET_KEYS[key]] = value
    return dataclasses.replace(budget, **fields, config_overrides=config_overrides)


def variant_config(variant, budget, dataset_root, body_model=""):
    """The config of one variant trained with `budget` on the data in `dataset_root`.

    Besides the budget, every variant gets what the `demo` experiment found
    short CPU runs need: its batch-norm decay (0.9: with the original's
    0.997 the test-time statistics of a short run are still far from the
    batch statistics) and the inputs cached in memory. XLA stays off, as in
    the ablations: on the 2-core CPU a step at the defaults took 3.2 s with
    it against 0.4 s without, after half a minute of compilation.
    """
    config = ablations.get_config(variant.ablation)
    config.runtime.dataset_root = dataset_root
    config.runtime.train_split = variant.train_split
    config.runtime.eval_split = "test"
    config.model.body_model = body_model or ""
    config.data.input_size = budget.input_size
    config.optim.batch_size = budget.batch_size
    config.optim.lr = budget.lr
    config.optim.lr_policy = budget.lr_policy
    config.runtime.max_steps = budget.steps
    config.model.bn_decay = _DEMO.model.bn_decay
    config.runtime.cache_inputs = _DEMO.runtime.cache_inputs
    # An interrupted variant loses at most an eighth of its steps; a checkpoint
    # (model and Adam's moments) is ~0.3 GB, so only the latest is kept.
    config.runtime.save_freq = max(budget.steps // 8, 1)
    config.runtime.keep_checkpoints = 1
    config.runtime.summary_freq = max(budget.steps // 40, 1)
    config.runtime.image_summaries = False
    config.runtime.validation_freq = max(budget.steps // 12, 1)  # The learning curves.
    config.update_from_flattened_dict(budget.config_overrides)
    return config


@dataclasses.dataclass(frozen=True)
class SegmenterBudget:
    """Table 2's reduced-scale recipe for the part segmenter, trained from scratch.

    The paper's network (RefineNet on ResNet-101) and batch, at 128 px instead
    of 512, and 180 steps: a step of batch 5 took 7.5 s (median of 10, after
    tracing) on the 2-core CPU shared with another job, so training takes
    about 23 minutes. Learning rate 1e-4, five times the paper's 2e-5 (which
    fine-tuned ImageNet weights; these start from random ones and have 180
    steps), and no more: at 1e-3 the unnormalised decoder's ReLUs die
    within 10 steps (64% of them output zero on every pixel) and the
    network predicts background everywhere (README, "Segmenters trained
    from scratch"). Batch-norm decay 0.9 as for the fitting runs: with
    0.997 the moving statistics of a short run lag behind.
    """
    segmenter: str = "refinenet_resnet_v1_101"
    input_size: int = 128
    batch_size: int = 5
    steps: int = 180
    lr: float = 1e-4
    lr_policy: str = "poly"
    bn_decay: float = 0.9


def segmenter_config(budget, dataset_root):
    """The segmentation config of `budget` (a `SegmenterBudget`) on the data in `dataset_root`.

    The paper's augmentation stays (configs/segmentation.py); the checkpoint
    (~1.2 GB with Adam's moments for RefineNet) is kept once, saved every
    eighth of the run.
    """
    config = segmentation.segmentation_config(budget.segmenter)
    config.runtime.dataset_root = dataset_root
    config.runtime.train_split = "train"
    config.runtime.eval_split = "test"
    config.data.input_size = budget.input_size
    config.optim.batch_size = budget.batch_size
    config.runtime.max_steps = budget.steps
    config.optim.lr = budget.lr
    config.optim.lr_policy = budget.lr_policy
    config.model.bn_decay = budget.bn_decay
    config.runtime.save_freq = max(budget.steps // 8, 1)
    config.runtime.keep_checkpoints = 1
    config.runtime.summary_freq = max(budget.steps // 40, 1)
    config.runtime.image_summaries = False
    return config
