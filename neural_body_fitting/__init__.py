"""Neural Body Fitting (Omran et al., 3DV 2018) in TensorFlow 2.

    import neural_body_fitting as nbf
    model = nbf.synthetic_body_model()          # or nbf.load_body_model(path)
    layer = nbf.SMPL(model)
    out = layer(betas, pose)                     # vertices, joints, landmarks14, ...

Subpackages, in the order data flows through them (each imports only from
those before it; `tests/test_architecture.py` checks it):

  utils, constants   atomic writes, image files, the registry helper; the facts of
                     SMPL and the original
  registries         the named parts a config chooses (encoders, segmenters, tasks, ...)
  geometry           rotations, mirroring, the camera
  body               model files, the synthetic model, the SMPL layer, pose prior,
                     parameter records
  render             label maps, colour maps and shaded overlays
  data               on-disk layout, encodings, synthesis, UP-3D, augmentation, pipelines
  networks           backbones and the fitting network
  losses             the original's loss kinds and terms, the segmenter's cross-entropy
  configs            the base config and the named experiments
  training           the distributed training loop of both stages
  evaluation         metrics and evaluation of a run (fitting or segmentation)
  porting            the original TF1 checkpoints
  serving            inference: crops, the Predictor, outputs, gallery, SavedModel export
  reproduction       the paper's tables at reduced scale (nbf-reproduce) and `make demo`
  cli                the commands (nbf-train, nbf-eval, nbf-demo, nbf-infer, ...)

Everything is loaded on first use: `import neural_body_fitting` and reading a
body model do not import TensorFlow.
"""
from neural_body_fitting.utils import lazy

__version__ = "0.3.0.dev0"

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("body", "configs", "constants", "data", "evaluation", "geometry", "losses",
                "networks", "porting", "registries", "render", "reproduction", "serving",
                "training", "utils"),
    exports={
        "body": ("BodyModel", "SMPL", "load_body_model", "resolve_body_model",
                 "save_body_model", "synthetic_body_model"),
        "networks": ("NBFModel",),
        "serving": ("Predictor", "run_inference"),
    },
)
