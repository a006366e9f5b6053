"""The names of a fitting loss config, checked without TensorFlow.

A config maps a term (`registries.LOSS_TERMS`) to (kind, weight); a kind is
one of `registries.LOSS_KINDS`, optionally with a suffix that first moves
both 2D point sets to a common reference point (`_simtrans_neck`: the neck,
`_simtrans_hips`: the centre of the hips).
"""
from neural_body_fitting import registries

SIMTRANS = ("_simtrans_neck", "_simtrans_hips")
KINDS = tuple(base + suffix for base in registries.LOSS_KINDS.names()
              for suffix in ("", *SIMTRANS))
TERMS = registries.LOSS_TERMS.names()


def split_kind(kind):
    """'euclidist_simtrans_neck' -> ('euclidist', '_simtrans_neck'); 'msqerr' -> ('msqerr', '')."""
    suffix = next((s for s in SIMTRANS if kind.endswith(s)), "")
    return kind[:len(kind) - len(suffix)], suffix


def check_loss_terms(loss_terms, num_landmarks, where="loss_terms"):
    """UnknownNameError naming an unknown term or kind; ValueError for a simtrans kind that
    cannot apply."""
    for term, (kind, weight) in loss_terms.items():
        registries.LOSS_TERMS.check(term, where)
        base, suffix = split_kind(kind)
        registries.LOSS_KINDS.check(base, f"{where}.{term}")
        if suffix and (term != "joint_locations_projected" or num_landmarks != 14):
            raise ValueError(f"{where}.{term}: '{kind}' applies only to "
                             "joint_locations_projected with 14 landmarks")
        float(weight)
