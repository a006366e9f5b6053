"""Round trip of the UP-3D conversion on a tiny fake release in UP-3D's format."""
import os
import pickle

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from neural_body_fitting import constants, geometry, render
from neural_body_fitting.body import pose_prior, smpl
from neural_body_fitting.body.synthetic import synthetic_body_model
from neural_body_fitting.data import layout, up3d
from neural_body_fitting.utils import images

SIZE, FOCAL = 400, 1100.0


def write_fake_release(directory, count=3):
    """SMPLify-style fits of the synthetic body, rendered into 400 px images."""
    model = synthetic_body_model()
    layer = smpl.SMPL(model, dtype="float64", jit_compile=False)
    rng = np.random.default_rng(0)
    ids = [f"{k:05d}" for k in range(count)]
    for sample_id in ids:
        pose = pose_prior.sample_poses(rng, 1)[0]
        betas = rng.normal(size=10)
        rt = rng.normal(scale=0.05, size=3)
        t = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.2, 0.2), rng.uniform(7, 11)])
        trans = rng.normal(scale=0.1, size=3)
        out = layer(betas[None], pose[None], trans[None])
        camera = Rotation.from_rotvec(rt).as_matrix()
        vertices = out["vertices"].numpy()[0] @ camera.T + t
        landmarks = out["landmarks14"].numpy()[0] @ camera.T + t
        image, _ = render.render_shaded(vertices, model.faces, SIZE, focal_length=FOCAL)
        prefix = os.path.join(directory, sample_id)
        cv2.imwrite(f"{prefix}_image.png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        fit = {"pose": pose, "betas": betas, "trans": trans, "f": np.array([FOCAL, FOCAL]),
               "rt": rt, "t": t}
        with open(f"{prefix}_body.pkl", "wb") as stream:
            pickle.dump(fit, stream, protocol=2)
        joints = FOCAL * landmarks[:, :2] / landmarks[:, 2:] + SIZE / 2
        np.save(f"{prefix}_joints.npy", np.concatenate([joints.T, np.ones((1, 14))]))
        for suffix, text in (("fit_crop_info", f"{SIZE} {SIZE} 0 {SIZE} 0 {SIZE}"),
                             ("quality_info", "high"), ("dataset_info", "fake")):
            with open(f"{prefix}_{suffix}.txt", "w") as stream:
                stream.write(text + "\n")
    for split, members in (("train", ids[:2]), ("val", ids[2:]), ("test", [])):
        with open(os.path.join(directory, f"{split}.txt"), "w") as stream:
            stream.writelines(f"/{i}_image.png\n" for i in members)
    return ids


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    release = str(tmp_path_factory.mktemp("release"))
    output = str(tmp_path_factory.mktemp("converted"))
    ids = write_fake_release(release)
    counts, skipped = up3d.convert_release(release, output)
    assert skipped == []
    return release, output, ids, counts


def test_converted_parameters_reproduce_the_stored_joints(converted):
    _, output, ids, counts = converted
    assert counts == {"train": 2, "val": 1, "test": 0}
    layer = smpl.SMPL(synthetic_body_model(), dtype="float64", jit_compile=False)
    for sample_id in ids:
        paths = layout.sample_paths(output, sample_id)
        params = layout.read_smplparams(paths["smplparams"])
        rest, posed, projected = layout.read_joints(paths["joints"])
        np.testing.assert_allclose(params[82:], constants.FIXED_TRANSLATION)
        out = layer(params[None, :10], params[None, 10:82], params[None, 82:])
        np.testing.assert_allclose(out["landmarks14"][0], posed, atol=1e-5)
        np.testing.assert_allclose(out["rest_joints"][0], rest, atol=1e-5)
        np.testing.assert_allclose(geometry.project_points(posed, 224), projected, atol=1e-6)


def test_joints_reproject_onto_the_rendered_parts_and_the_cropped_image(converted):
    release, output, ids, _ = converted
    model = synthetic_body_model()
    for sample_id in ids:
        paths = layout.sample_paths(output, sample_id)
        _, _, projected = layout.read_joints(paths["joints"])
        labels = images.read_label_map(paths["labels"])
        pixels = np.floor(projected * 512 / 224).astype(int)
        assert np.mean(labels[pixels[:, 1], pixels[:, 0]] > 0) >= 0.8
        # The release's 2D joints, carried into the crop by the image similarity,
        # land where the normalised body's joints project.
        sample = up3d.read_release_sample(release, sample_id)
        rest_root = (model.J_regressor @ (model.v_template + model.shapedirs @ sample["betas"]))[0]
        _, _, (scale, src, dst) = up3d.normalise(sample, rest_root)
        carried = (dst + scale * (sample["joints_2d"] - src)) * 224 / 512
        assert np.max(np.linalg.norm(carried - projected, axis=1)) < 4.0  # px at 224.
        # And the cropped photo shows the body where the labels are.
        image = images.read_image(paths["image"])
        body = labels > 0
        assert image[body].mean() > 3 * max(image[~body].mean(), 1.0)


def test_bad_release_files_are_named(tmp_path):
    write_fake_release(str(tmp_path), count=1)
    with open(tmp_path / "00000_fit_crop_info.txt", "w") as stream:
        stream.write("1 2 3\n")
    with pytest.raises(ValueError, match="00000_fit_crop_info.txt"):
        up3d.read_release_sample(str(tmp_path), "00000")
    with open(tmp_path / "00000_body.pkl", "wb") as stream:
        pickle.dump({"pose": np.zeros(72)}, stream, protocol=2)
    with pytest.raises(ValueError, match="00000_body.pkl.*betas"):
        up3d.read_release_sample(str(tmp_path), "00000")


def _edit_fit(release, sample_id, **changes):
    path = os.path.join(release, f"{sample_id}_body.pkl")
    with open(path, "rb") as stream:
        fit = pickle.load(stream)
    fit.update(changes)
    with open(path, "wb") as stream:
        pickle.dump(fit, stream, protocol=2)
    return path


def test_bad_samples_are_reported_by_file_and_never_written(tmp_path):
    release, output = str(tmp_path / "release"), str(tmp_path / "out")
    os.makedirs(release)
    ids = write_fake_release(release, count=3)
    nan_pose = np.zeros(72)
    nan_pose[5] = np.nan
    bad = {ids[0]: _edit_fit(release, ids[0], pose=nan_pose),
           ids[1]: _edit_fit(release, ids[1], f=np.array([0.0, 0.0])),
           ids[2]: _edit_fit(release, ids[2], t=np.array([40.0, 0.0, 9.0]))}
    counts, skipped = up3d.convert_release(release, output)
    assert counts == {"train": 0, "val": 0, "test": 0}
    reasons = dict(skipped)
    assert reasons[ids[0]].startswith(f"{bad[ids[0]]}: key 'pose' holds NaN")
    assert reasons[ids[1]].startswith(f"{bad[ids[1]]}: focal length 'f' must be positive")
    assert reasons[ids[2]].startswith(f"{bad[ids[2]]}: only ")
    assert "lies inside the photograph" in reasons[ids[2]]
    assert not os.path.exists(os.path.join(output, "images"))
    assert layout.read_dataset_info(output)["skipped"] == [list(item) for item in skipped]
    with pytest.raises(ValueError, match="key 'pose' holds NaN"):
        up3d.convert_release(release, str(tmp_path / "strict"), skip_bad_samples=False)
