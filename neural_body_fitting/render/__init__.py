"""Rasterising posed meshes with the original camera: part label maps, depth
and shaded overlays (OpenCV's z-buffered rasteriser). Colouring label maps is
`data.encodings`' (`colourise`, `decolourise`)."""
from neural_body_fitting.utils import lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=("rasteriser",),
    exports={"rasteriser": ("face_labels_from_vertex_labels", "render_label_map", "render_depth",
                            "render_shaded", "overlay")},
)
