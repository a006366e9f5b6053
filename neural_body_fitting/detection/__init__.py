"""People in real photographs: MediaPipe's BlazePose person detector and landmark model
(Apache-2.0, fetched by `nbf-models fetch`, never downloaded implicitly) run by a TFLite
interpreter, with our own pipeline around them. `Detector(...).detect(image)` gives one
`Person` (box, score, 33 landmarks, world landmarks, mask) per person; docs/detection.md.
"""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("anchors", "decoding", "detector", "landmarks", "models", "regions"),
    exports={"detector": ("Detector", "Person"), "models": ("fetch", "ModelFileError")},
)
