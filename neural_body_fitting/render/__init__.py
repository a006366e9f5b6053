"""Rasterising posed meshes with the original camera: part label maps, depth,
colour-coded part maps and shaded overlays (OpenCV's z-buffered rasteriser)."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("rasteriser",),
    exports={"rasteriser": ("face_labels_from_vertex_labels", "render_label_map", "render_depth",
                            "colourise", "decolourise", "render_shaded", "overlay")},
)
