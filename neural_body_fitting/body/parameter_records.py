"""The flat records that hold body parameters, and the only place their layout is written.

Three records exist (`docs/data.md` has the full story):

  smplparams   [85]  the dataset's `.bin` record: betas 10 | axis-angle pose 72 | translation 3
  statistics   [229] the latent statistics file: betas 10 | rotations 216 | translation 3
  latent       [226] or [228] what the fitting network regresses:
                     betas 10 | rotations 216 (| translation x, y)

Rotations are the 24 joint rotation matrices, row-major (24 x 9 entries), in
the run's rotation mode (absolute or relative). A latent with translation
holds the x and y of the translation; the depth stays at the original's
fixed distance (`constants.FIXED_TRANSLATION[2]`), since the scale
normalisation puts every person at that distance.

Slices work on NumPy arrays and tensors alike (`record[..., BETAS]`).
"""
import numpy as np

from neural_body_fitting import constants

# smplparams: the dataset record.
NUM_SMPL_PARAMS = constants.NUM_BETAS + 3 * constants.NUM_JOINTS + 3  # 85
BETAS = slice(0, constants.NUM_BETAS)  # Shared by all three records.
POSE = slice(BETAS.stop, BETAS.stop + 3 * constants.NUM_JOINTS)  # 10:82, axis-angle
TRANSLATION = slice(POSE.stop, NUM_SMPL_PARAMS)  # 82:85

# statistics and latent: rotations instead of axis-angle.
ROTATIONS = slice(BETAS.stop, BETAS.stop + 9 * constants.NUM_JOINTS)  # 10:226
NUM_STATS = ROTATIONS.stop + 3  # 229
STATS_TRANSLATION = slice(ROTATIONS.stop, NUM_STATS)  # 226:229
LATENT_TRANSLATION = slice(ROTATIONS.stop, ROTATIONS.stop + 2)  # 226:228, x and y

# config.model.fitting.latent_components -> whether the latent holds the translation.
LATENT_COMPONENTS = {"betas,pose": False, "betas,pose,trans": True}


def rotation_mode(use_absrot):
    """The rotations a record (and the SMPL layer) holds: 'absolute' (each joint's
    rotation in the world) or 'relative' (to its parent), by `use_absrot`."""
    return "absolute" if use_absrot else "relative"


def check_components(components):
    """ValueError unless `components` is a known `latent_components` value."""
    if components not in LATENT_COMPONENTS:
        raise ValueError(f"latent_components: expected one of {sorted(LATENT_COMPONENTS)}, "
                         f"got '{components}'")
    return components


def has_translation(components):
    return LATENT_COMPONENTS[check_components(components)]


def latent_size(components):
    """226 (betas, rotations) or 228 (plus translation x, y)."""
    return LATENT_TRANSLATION.stop if has_translation(components) else ROTATIONS.stop


def latent_from_statistics(statistics, components):
    """The latent part of a statistics record: [..., 229] -> [..., latent_size]."""
    statistics = np.asarray(statistics)
    if statistics.shape[-1:] != (NUM_STATS,):
        raise ValueError(f"latent statistics must hold {NUM_STATS} values, got "
                         f"{statistics.shape[-1:] or 'a scalar'}")
    return statistics[..., :latent_size(components)]


def statistics_record(betas, rotations, translation):
    """[N, 229] float64 from betas [N, 10], rotations [N, 24, 3, 3], translation [N, 3]."""
    betas, rotations, translation = (np.asarray(a, np.float64) for a in
                                     (betas, rotations, translation))
    return np.concatenate([betas, rotations.reshape(len(rotations), -1), translation], axis=1)
