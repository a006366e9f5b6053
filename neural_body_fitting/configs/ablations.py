"""The paper's ablations as named variants of the original settings.

    nbf-train --config=ablations:table1_parts6 ...

Table 1 (input encodings): table1_rgb, table1_parts1, table1_parts3, table1_parts6,
  table1_parts12, table1_parts24, table1_joints14, table1_joints24.
Table 3 (loss terms): table3_lat, table3_lat_3d, table3_lat_2d, table3_lat_3d_2d,
  table3_3d, table3_2d.
Table 4 (fraction of 3D labels, 2D labels for all): table4_3d100, table4_3d050,
  table4_3d020, table4_3d010, table4_3d005, table4_3d000 — the fraction itself
  is the share of latent flags 1 in the training list (`nbf-make-data
  --latent_fraction=0.2`, or the re-flagged lists of `nbf-reproduce`); these
  variants only name the runs and use all three loss terms.
"""
from neural_body_fitting.configs.base import default_config
from neural_body_fitting.utils import registry

LOSSES = {
    "lat": {"model_parameters": ("mabserr", 1.0)},
    "3d": {"joint_locations_posed": ("euclidist", 1.0)},
    "2d": {"joint_locations_projected": ("euclidist", 1.0)},
}
TABLE3 = {"lat": ("lat",), "lat_3d": ("lat", "3d"), "lat_2d": ("lat", "2d"),
          "lat_3d_2d": ("lat", "3d", "2d"), "3d": ("3d",), "2d": ("2d",)}
TABLE4_FRACTIONS = ("100", "050", "020", "010", "005", "000")  # Percent of samples with 3D labels.


def variants():
    names = {}
    for input_type in ("rgb", "parts1", "parts3", "parts6", "parts12", "parts24", "joints14",
                       "joints24"):
        names[f"table1_{input_type}"] = {"input_type": input_type}
    for name, parts in TABLE3.items():
        terms = {}
        for part in parts:
            terms.update(LOSSES[part])
        names[f"table3_{name}"] = {"loss_terms": terms}
    for fraction in TABLE4_FRACTIONS:
        names[f"table4_3d{fraction}"] = {"loss_terms": {**LOSSES["lat"], **LOSSES["3d"],
                                                        **LOSSES["2d"]}}
    return names


def get_config(variant="table1_parts12"):
    changes = registry.Registry("ablation", variants()).get(variant, "ablations")
    config = default_config()
    if "input_type" in changes:
        config.data.input_type = changes["input_type"]
        if changes["input_type"] == "joints24":
            config.data.num_landmarks = 24
    if "loss_terms" in changes:
        with config.unlocked():
            config.loss.terms = dict(changes["loss_terms"])
    return config
