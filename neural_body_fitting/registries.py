"""Every named part a config can choose, one registry per kind (`utils.registry`).

  ENCODERS     the fitting network's backbone (`config.model.fitting.encoder`)
  SEGMENTERS   the stage-1 network (`config.model.segmenter.network`)
  TASKS        what a run trains (`config.stage`): model, inputs, losses, metrics
  STRATEGIES   how a run is distributed (`config.runtime.strategy`)
  EXPERIMENTS  the named configs a command's `--config` takes
  LOSS_KINDS   the original's error kinds (`config.loss.terms.<term> = (kind, weight)`)
  LOSS_TERMS   what a fitting loss term compares: (network output, batch target,
               whether it needs 3D labels)

Entries name their implementation as "module:attribute" and load on first
`get`, so a config is validated without importing TensorFlow. Add your
own with `register` before the run starts (`ENCODERS.register("mine", fn)`).
"""
from neural_body_fitting.utils.registry import Registry

_PACKAGE = "neural_body_fitting"

ENCODERS = Registry("encoder", {
    name: f"{_PACKAGE}.networks.backbones:{name}_encoder"
    for name in ("resnet_v1_50", "resnet_v1_101", "resnet_v2_50", "vgg_16", "tiny")})

SEGMENTERS = Registry("segmenter", {
    name: f"{_PACKAGE}.networks.segmentation:{name}_logits"
    for name in ("refinenet_resnet_v1_101", "deeplab_resnet_v1_101", "deeplab_vgg_16", "tiny")})

TASKS = Registry("stage", {
    "fitting": f"{_PACKAGE}.training.fitting:FittingTask",
    "segmentation": f"{_PACKAGE}.training.segmentation:SegmentationTask",
})

STRATEGIES = Registry("strategy", {
    name: f"{_PACKAGE}.training.trainer:{name}_strategy"
    for name in ("default", "mirrored", "multi_worker")})

EXPERIMENTS = Registry("experiment", {
    name: f"{_PACKAGE}.configs.{name}"
    for name in ("demo", "demo_up", "ablations", "keypoints_fit", "segmentation_refinenet",
                 "segmentation_deeplab_resnet", "segmentation_deeplab_vgg")})

LOSS_KINDS = Registry("loss kind", {
    name: f"{_PACKAGE}.losses.fitting:{name}"
    for name in ("mabserr", "msqerr", "gmc_var", "gmc_std", "tukey", "euclidist",
                 "sqeuclidist", "euclidist_robust_v1")})

LOSS_TERMS = Registry("loss term", {
    "model_parameters": ("latent", "latent", True),
    "joint_locations_betas": ("rest_joints", "rest_joints", True),
    "joint_locations_posed": ("landmarks", "landmarks", True),
    "joint_locations_projected": ("landmarks_2d", "landmarks_2d", False),
})
