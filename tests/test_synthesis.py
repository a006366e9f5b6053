"""Specifications of the dataset layout, encodings, pose prior and synthetic generator."""
import os

import numpy as np
import pytest

from neural_body_fitting import constants, geometry, render
from neural_body_fitting.body import pose_prior, smpl
from neural_body_fitting.body.synthetic import synthetic_body_model
from neural_body_fitting.data import encodings, layout, synthesis
from neural_body_fitting.utils import images


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthetic"))
    synthesis.generate_dataset(root, {"train": 6, "val": 2}, seed=3, latent_fraction=0.5,
                               mirror_fraction=0.5, granularities=(6, 12), progress=False)
    return root


def test_samples_parse_back_and_reproduce_their_joints(generated):
    model = synthetic_body_model()
    layer = smpl.SMPL(model, dtype="float64", jit_compile=False)
    for sample_id, _ in layout.read_split_list(generated, "train"):
        paths = layout.sample_paths(generated, sample_id)
        params = layout.read_smplparams(paths["smplparams"])
        rest, posed, projected = layout.read_joints(paths["joints"])
        out = layer(params[None, :10], params[None, 10:82], params[None, 82:])
        np.testing.assert_allclose(out["rest_joints"][0], rest, atol=1e-5)
        np.testing.assert_allclose(out["landmarks14"][0], posed, atol=1e-5)
        np.testing.assert_allclose(geometry.project_points(posed, 224), projected, atol=1e-9)
        labels = images.read_label_map(paths["labels"])
        # Most 2D joints (scaled to the 512 crop) lie on the rendered body.
        pixels = np.floor(projected * 512 / 224).astype(int)
        inside = (pixels >= 0).all(1) & (pixels < 512).all(1)
        on_body = labels[pixels[inside, 1], pixels[inside, 0]] > 0
        assert on_body.mean() >= 0.75, sample_id
        colours = images.read_image(paths["colours"])
        assert {tuple(c) for c in colours.reshape(-1, 3)} <= {
            tuple(c) for c in constants.PART_COLOURS}
        np.testing.assert_array_equal(encodings.decolourise(colours),
                                      encodings.part_lookup(12)[synthesis.fit_size_labels(labels)])
        six = images.read_image(layout.colour_map_path(generated, sample_id, 6))
        np.testing.assert_array_equal(
            encodings.decolourise(six, encodings.colour_table(6)),
            encodings.part_lookup(6)[synthesis.fit_size_labels(labels)])


def test_mirrored_samples_equal_renders_of_mirrored_parameters():
    model = synthetic_body_model()
    renderer = synthesis.SampleRenderer(model)
    rng = np.random.default_rng(5)
    betas, pose, translation = synthesis.sample_parameters(rng)
    vertices = renderer.pose_bodies(betas[None], pose[None], translation[None])[0][0]
    _, labels = renderer.render_sample(vertices, np.random.default_rng(0))
    _, flipped = synthesis._mirror_rendering(labels, labels)
    mirrored_pose, mirrored_translation = synthesis.mirror_parameters(pose, translation)
    mirrored_vertices = renderer.pose_bodies(betas[None], mirrored_pose[None],
                                             mirrored_translation[None])[0][0]
    direct = render.render_label_map(mirrored_vertices, model.faces, renderer.face_labels24, 512)
    assert (flipped != direct).mean() < 1e-3


def test_latent_flags_and_dataset_info(generated):
    flags = [flag for _, flag in layout.read_split_list(generated, "train")]
    assert sum(flags) == 3
    assert all(flag == 1 for _, flag in layout.read_split_list(generated, "val"))
    info = layout.read_dataset_info(generated)
    assert info["counts"] == {"train": 6, "val": 2} and info["num_landmarks"] == 14
    assert info["pose_prior"]["kind"] == "mocap" and info["pose_prior"]["bank"] == "shipped"
    assert info["complete"] is True and not os.path.exists(layout.finished_path(generated))
    layout.check_complete(generated)


def test_the_manifest_of_finished_samples_drops_a_line_cut_short(tmp_path):
    root = str(tmp_path)
    layout.record_finished(root, "train_000000")
    with open(layout.finished_path(root), "a") as stream:
        stream.write("train_0000")  # What a kill in the middle of an append would leave.
    assert layout.read_finished(root) == {"train_000000"}


def test_same_seed_same_files_whatever_the_workers(tmp_path, generated):
    other = str(tmp_path / "again")
    synthesis.generate_dataset(other, {"train": 6, "val": 2}, seed=3, latent_fraction=0.5,
                               mirror_fraction=0.5, granularities=(6, 12), workers=2,
                               progress=False)
    for folder in ("smplparams", "joints", "labels", "colours", "images"):
        names = sorted(os.listdir(os.path.join(generated, folder)))
        assert names == sorted(os.listdir(os.path.join(other, folder)))
        for name in names:
            with open(os.path.join(generated, folder, name), "rb") as a, open(
                    os.path.join(other, folder, name), "rb") as b:
                assert a.read() == b.read(), (folder, name)


def test_pose_prior_respects_limits_and_stands_upright():
    poses = pose_prior.sample_poses(np.random.default_rng(0), 200)
    assert pose_prior.within_limits(poses).all()
    layer = smpl.SMPL(synthetic_body_model(), jit_compile=False)
    out = layer(np.zeros((200, 10)), poses, np.tile(constants.FIXED_TRANSLATION, (200, 1)))
    pixels = geometry.project_points(out["landmarks14"], 224).numpy()
    head_v, ankle_v = pixels[:, 13, 1], pixels[:, [0, 5], 1].max(1)
    assert np.mean(head_v < ankle_v) > 0.95  # Head above the feet in the image.


def test_encodings_group_consistently_and_mirror():
    labels24 = np.arange(25)
    for fine, coarse in ((24, 12), (12, 6), (6, 3), (3, 1)):
        # Grouping 24 -> fine -> coarse equals 24 -> coarse directly.
        fine_labels = encodings.part_lookup(fine)[labels24]
        composed = {}
        for f, c in zip(fine_labels, encodings.part_lookup(coarse)[labels24]):
            assert composed.setdefault(f, c) == c
    for granularity in encodings.GRANULARITIES:
        mirror = encodings.mirror_labels(granularity)
        np.testing.assert_array_equal(mirror[mirror], np.arange(len(mirror)))
        # Mirroring then grouping equals grouping then mirroring.
        np.testing.assert_array_equal(
            encodings.part_lookup(granularity)[encodings.mirror_labels(24)],
            mirror[encodings.part_lookup(granularity)])
        table = encodings.colour_table(granularity)
        assert len({tuple(c) for c in table}) == len(table)


def test_joint_map_discs():
    joints = np.array([[50.3, 60.7], [150.0, 20.0]])
    image = encodings.draw_joint_map(joints)
    colours = encodings.joint_colours(2)
    for (u, v), colour in zip(joints, colours):
        mask = np.all(image == colour, axis=-1)
        rows, cols = np.nonzero(mask)
        np.testing.assert_allclose([cols.mean() + 0.5, rows.mean() + 0.5], [u, v], atol=0.6)
        assert 20 <= mask.sum() <= 40  # A disc of radius 3 covers about 29 pixels.


def test_layout_errors_name_the_file(tmp_path):
    root = str(tmp_path)
    paths = layout.write_sample(root, "a", smplparams=np.zeros(85), rest_joints=np.zeros((24, 3)),
                                 posed_joints=np.zeros((14, 3)),
                                 projected_joints=np.zeros((14, 2)),
                                 image=np.zeros((8, 8, 3), np.uint8))
    with open(paths["smplparams"], "ab") as stream:
        stream.write(b"\0" * 8)
    with pytest.raises(ValueError, match="a_smplparams.bin"):
        layout.read_smplparams(paths["smplparams"])
    with open(paths["joints"], "r+b") as stream:
        stream.write(np.array([np.nan]).tobytes())
    with pytest.raises(ValueError, match="a_joints.bin.*NaN"):
        layout.read_joints(paths["joints"])
    with open(paths["image"], "r+b") as stream:
        stream.truncate(30)
    with pytest.raises(ValueError, match="a_image.png"):
        images.read_image(paths["image"])
    os.makedirs(os.path.join(root, "lists"))
    with open(layout.list_path(root, "train"), "w") as stream:
        stream.write("a 1\nb two\n")
    with pytest.raises(ValueError, match="train_latent.txt:2"):
        layout.read_split_list(root, "train")
