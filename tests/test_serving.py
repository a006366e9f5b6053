"""Inference: crops, people files, the stage hand-over, the Predictor and its outputs."""
import json
import pickle

import cv2
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import person_image, tiny_segmenter

from neural_body_fitting import body, configs, constants, render, training
from neural_body_fitting.body import smpl
from neural_body_fitting.data import encodings, synthesis
from neural_body_fitting.serving import crops, graph, handover, inputs, outputs, people, predictor

# --- Crops ------------------------------------------------------------------------------


@pytest.mark.parametrize("height,width,box", [
    (700, 900, (380.0, 150.0, 520.0, 370.0)),     # A small person: enlarged 2x.
    (3000, 2500, (900.0, 400.0, 1500.0, 2600.0)),  # A big image: shrunk 5x (area path).
])
def test_crop_puts_the_person_440_px_tall_in_the_middle(height, width, box):
    image = person_image(height, width, box)
    transform = crops.transform_for_box(box)
    crop = crops.crop_image(image, transform)
    assert crop.shape == (512, 512, 3)
    rows = np.flatnonzero((crop[..., 0] > 150).any(axis=1))
    cols = np.flatnonzero((crop[..., 0] > 150).any(axis=0))
    # The rectangle's edges land within a pixel of 440 px tall, centred at 256.
    assert abs((rows[-1] + 1 - rows[0]) - 440) <= 1
    assert abs((rows[0] + rows[-1] + 1) / 2 - 256) <= 1
    assert abs((cols[0] + cols[-1] + 1) / 2 - 256) <= 1
    # Points map back exactly, and a pixel's centre maps onto the same content.
    points = np.random.default_rng(0).uniform(0, 512, (10, 2))
    np.testing.assert_allclose(transform.to_crop(transform.to_original(points)), points,
                               atol=1e-9)
    corner = transform.to_crop([box[0], box[1]])
    np.testing.assert_allclose(corner, [(cols[0]), rows[0]], atol=1.0)


def test_keypoints_give_the_box_and_uncertain_ones_are_ignored():
    keypoints = np.array([[10, 20, 0.9], [30, 80, 0.8], [20, 50, 0.7], [25, 60, 0.6],
                          [500, 500, 0.01]])
    assert crops.box_of_keypoints(keypoints) == (10, 20, 30, 80)
    transform = crops.transform_for_box(crops.box_of_keypoints(keypoints))
    np.testing.assert_allclose(transform.to_crop([[20, 20], [20, 80]]), [[256, 36], [256, 476]])
    with pytest.raises(ValueError, match="only 1 keypoints"):
        crops.box_of_keypoints(keypoints[[0, 4]])


def test_people_files_of_every_format(tmp_path):
    body25 = np.zeros((25, 3))
    body25[:6] = [[100, 50, 0.9], [110, 150, 0.9], [90, 250, 0.9], [120, 350, 0.9],
                  [100, 200, 0.9], [105, 300, 0.9]]
    coco18 = np.zeros((18, 3))
    coco18[:2] = [[1, 1, 0.9], [2, 2, 0.9]]  # Too few confident keypoints.
    (tmp_path / "op").mkdir()
    (tmp_path / "op" / "a_keypoints.json").write_text(json.dumps({"people": [
        {"pose_keypoints_2d": body25.ravel().tolist()},
        {"pose_keypoints_2d": coco18.ravel().tolist()}]}))
    found = people.read_people(str(tmp_path / "op"))
    assert found["a"][0].box == (90, 50, 120, 350) and found["a"][0].error is None
    assert "only 2 keypoints" in found["a"][1].error and "person 1" in found["a"][1].error
    coco = {"images": [{"id": 7, "file_name": "dir/b.jpg"}], "annotations": [
        {"image_id": 7, "keypoints": [5, 6, 2, 50, 60, 1, 20, 30, 2, 40, 10, 2, 999, 999, 0]}]}
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    assert people.read_people(str(tmp_path / "coco.json"))["b"][0].box == (5, 6, 50, 60)
    (tmp_path / "boxes.json").write_text(json.dumps({"c.png": [[1, 2, 3, 40], [0, 5, 1, 5]]}))
    boxes = people.read_people(str(tmp_path / "boxes.json"))["c"]
    assert boxes[0].box == (1, 2, 3, 40) and "no height" in boxes[1].error
    (tmp_path / "boxes.csv").write_text("image,x0,y0,x1,y1\nd.png,1,2,3,40\n")
    assert people.read_people(str(tmp_path / "boxes.csv"))["d"][0].box == (1, 2, 3, 40)
    (tmp_path / "bad.csv").write_text("name,x\n")
    with pytest.raises(ValueError, match="bad.csv: a boxes CSV needs the columns"):
        people.read_people(str(tmp_path / "bad.csv"))


# --- The hand-over -----------------------------------------------------------------------


def test_thumbnail_nearest_is_pils():
    # Hand-computed: output pixel i reads floor((i + 0.5) * 16/7), except that
    # Pillow's accumulated float sum falls just short where that is an integer.
    np.testing.assert_array_equal(handover.nearest_indices(512, 224)[:12],
                                  [1, 3, 5, 7, 10, 12, 14, 17, 19, 21, 23, 26])
    assert handover.nearest_indices(512, 224)[-1] == 510
    labels = np.random.default_rng(0).integers(0, 13, (1, 512, 512))
    colours = encodings.colourise(labels)
    ours = handover.resize_nearest(colours, 224)
    np.testing.assert_array_equal(tf.convert_to_tensor(ours).numpy(),
                                  handover.resize_nearest(tf.constant(colours), 224).numpy())
    pil = pytest.importorskip("PIL.Image")
    thumbnail = pil.fromarray(colours[0])
    thumbnail.thumbnail((224, 224), resample=pil.NEAREST)
    np.testing.assert_array_equal(ours[0], np.asarray(thumbnail))
    small = encodings.colourise(np.random.default_rng(1).integers(0, 13, (100, 100)))
    enlarged = pil.fromarray(small).resize((224, 224), resample=pil.NEAREST)
    np.testing.assert_array_equal(handover.resize_nearest(small[None], 224)[0],
                                  np.asarray(enlarged))


def test_segment_hands_over_argmax_colours_thumbnail_and_scaling():
    logits = tf.constant(np.random.default_rng(2).normal(size=(2, 512, 512, 13)), tf.float32)
    labels = handover.labels_from_logits(logits).numpy()
    np.testing.assert_array_equal(labels, np.argmax(logits.numpy(), -1))
    maps = encodings.colourise_tf(labels).numpy()
    inputs = handover.fitting_input(maps).numpy()
    expected = constants.PART_COLOURS[labels][:, handover.nearest_indices(512, 224)][
        :, :, handover.nearest_indices(512, 224)] * 2.0 / 255.0 - 1.0
    np.testing.assert_allclose(inputs, expected, atol=1e-6)


# --- Mesh files ---------------------------------------------------------------------------


def test_obj_and_ply_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    vertices, faces = rng.normal(size=(50, 3)), rng.integers(0, 50, (80, 3))
    path = tmp_path / "mesh.obj"
    path.write_text(outputs.obj_text(vertices, faces))
    read_vertices, read_faces = outputs.read_obj(str(path))
    assert read_vertices.shape == (50, 3) and read_faces.shape == (80, 3)
    np.testing.assert_allclose(read_vertices, vertices, atol=1e-6)
    np.testing.assert_array_equal(read_faces, faces)
    ply = outputs.ply_bytes(vertices, faces)
    header, _, body = ply.partition(b"end_header\n")
    assert b"element vertex 50" in header and b"element face 80" in header
    np.testing.assert_allclose(np.frombuffer(body[:600], "<f4").reshape(50, 3), vertices,
                               rtol=1e-6)
    records = np.frombuffer(body[600:], [("n", "u1"), ("i", "<i4", (3,))])
    assert (records["n"] == 3).all()
    np.testing.assert_array_equal(records["i"], faces)


@pytest.mark.parametrize("resolution", [512, 160])
def test_overlay_lands_where_the_crop_maps_the_body_at_any_rendering_resolution(resolution):
    model = body.synthetic_body_model()
    vertices = np.asarray(model.v_template) + [0.0, 0.2, 25.0]  # ~340 px tall.
    _, mask_512 = render.render_shaded(vertices, model.faces, 512)
    rendered, mask = render.render_shaded(vertices, model.faces, resolution)
    transform = crops.CropTransform(0.8, 330.0, 260.0)
    # White rendering over a black original: the overlay is the warped mask.
    white = np.full_like(rendered, 255)
    blended, shrink = outputs.overlay_rendering(np.zeros((600, 700, 3), np.uint8), white, mask,
                                                transform)
    assert shrink == 1.0
    covered = blended[..., 0] > 255 * 0.6 / 2
    rows, cols = np.nonzero(mask_512)
    # The 512 crop's body centroid (pixel centres at k + 0.5), mapped to the original.
    expected = transform.to_original([cols.mean() + 0.5, rows.mean() + 0.5])
    rows, cols = np.nonzero(covered)
    # Within a quarter of a rendering pixel (what its quantisation moves the
    # centroid by); half a pixel off in the warp would be twice that.
    pixel = 512 / resolution / transform.scale
    np.testing.assert_allclose([cols.mean() + 0.5, rows.mean() + 0.5], expected,
                               atol=0.25 * pixel + 0.1)
    # Area scales with 1 / scale^2.
    np.testing.assert_allclose(covered.sum(), mask_512.sum() / 0.8 ** 2, rtol=0.03)


# --- The Predictor ------------------------------------------------------------------------



def part_maps(count=2, size=224, seed=4):
    labels = np.random.default_rng(seed).integers(0, 13, (count, size // 8, size // 8))
    return encodings.colourise(np.kron(labels, np.ones((8, 8), np.int64)))


def test_body_pkl_reposes_to_the_predicted_joints(eager):
    result = eager.fit(part_maps(), return_vertices=True)
    assert result["pose"].shape == (2, 72) and result["rotations"].shape == (2, 24, 3, 3)
    body = pickle.loads(pickle.dumps(outputs.body_dict(result, 1), protocol=2))
    assert sorted(body) == ["betas", "f", "pose", "rt", "t", "trans"]
    assert body["pose"].shape == (72,) and body["betas"].shape == (10,)
    assert body["trans"].shape == (3,) and body["f"] == 5000.0
    np.testing.assert_array_equal(body["rt"], np.zeros(3))
    layer = smpl.SMPL("synthetic", rotation_mode="relative")
    assert result["vertices"].shape == (2, layer.body_model.num_vertices, 3)
    assert eager.faces.shape == (len(layer.body_model.faces), 3)
    reposed = layer(body["betas"][None].astype(np.float32), body["pose"][None].astype(np.float32),
                    body["trans"][None].astype(np.float32), return_vertices=False)
    np.testing.assert_allclose(reposed["joints"][0], result["smpl_joints"][1], atol=1e-4)


def test_joints_map_back_to_the_original_image(eager):
    box = (300.0, 100.0, 420.0, 500.0)
    image = person_image(600, 800, box)
    transform = crops.transform_for_box(box)
    crop = crops.crop_image(image, transform)
    result = eager.segment_fit(crop[None], [transform])
    np.testing.assert_allclose(transform.to_crop(result["smpl_joints_2d_original"][0]),
                               result["smpl_joints_2d"][0], atol=1e-3)
    np.testing.assert_allclose(result["crop_transform"][0], transform.as_array())
    assert result["part_labels"].shape == (1, 512, 512)


def test_saved_model_matches_the_predictor(run_dir, tmp_path):
    from neural_body_fitting.serving import export

    model = predictor.load_fitting_run(run_dir)
    segmenter = tiny_segmenter()
    export.export_saved_model(str(tmp_path / "export"), model, segmenter)
    loaded = predictor.Predictor.from_saved_model(str(tmp_path / "export"))
    eager = predictor.Predictor(model, segmenter)
    np.testing.assert_array_equal(loaded.faces, eager.faces)
    maps = part_maps()
    images = np.random.default_rng(5).integers(0, 256, (2, 512, 512, 3), dtype=np.uint8)
    for name, batch in (("fit", maps), ("segment_fit", images)):
        expected = getattr(eager, name)(batch, return_vertices=True)
        result = getattr(loaded, name)(batch, return_vertices=True)
        assert sorted(result) == sorted(expected)
        for key in expected:
            np.testing.assert_allclose(result[key], expected[key], rtol=1e-5, atol=1e-5,
                                       err_msg=f"{name}: {key}")
    encoded = [tf.io.encode_png(image).numpy() for image in images]
    served = loaded._saved_model.serve_bytes(tf.constant(encoded))
    np.testing.assert_allclose(served["smpl_joints"], eager.segment_fit(images)["smpl_joints"],
                               rtol=1e-5, atol=1e-5)


# --- Pixels of the inputs ----------------------------------------------------------------


def test_photos_of_every_kind_become_8_bit_rgb(tmp_path):
    rgb = np.random.default_rng(6).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    alpha = np.full((40, 50, 1), 255, np.uint8)
    alpha[:, :25] = 0  # The left half transparent: composited over black.
    cases = {"grey.png": rgb[..., 0], "rgba.png": np.concatenate([rgb[..., ::-1], alpha], -1),
             "deep.png": rgb[..., ::-1].astype(np.uint16) * 257}
    for name, image in cases.items():
        assert cv2.imwrite(str(tmp_path / name), image)
    grey = inputs.as_rgb8(inputs.read_pixels(str(tmp_path / "grey.png")))
    np.testing.assert_array_equal(grey, np.repeat(rgb[..., :1], 3, axis=2))
    rgba = inputs.as_rgb8(inputs.read_pixels(str(tmp_path / "rgba.png")))
    np.testing.assert_array_equal(rgba[:, 25:], rgb[:, 25:])
    assert not rgba[:, :25].any()
    np.testing.assert_array_equal(inputs.as_rgb8(inputs.read_pixels(str(tmp_path / "deep.png"))),
                                  rgb)
    # A photo that is no 512 crop needs a person box.
    with pytest.raises(ValueError, match="grey.png: 50x40 px is not a 512x512 NBF crop"):
        inputs.load_item(inputs.Item("grey", str(tmp_path / "grey.png")), "segment_fit")
    crop, transform = inputs.load_item(
        inputs.Item("grey_p0", str(tmp_path / "grey.png"), box=(10, 5, 30, 35)), "segment_fit")
    assert crop.shape == (512, 512, 3) and transform.scale == pytest.approx(440 / 30)


def test_a_segmentation_run_of_the_trainer_drives_segment_fit(run_dir, tmp_path):
    """Predictor.from_runs loads what `nbf-train` writes for stage 1 (the tiny segmenter:
    loading a run does not depend on the network; a trained DeepLab run is loaded and
    evaluated in test_segmentation.py)."""
    data_root, seg_run = str(tmp_path / "data"), str(tmp_path / "segmentation_run")
    synthesis.generate_dataset(data_root, {"train": 2}, seed=3, progress=False)
    config = configs.get_experiment("segmentation_deeplab_vgg")
    config.update_from_flattened_dict({"runtime.dataset_root": data_root, "data.input_size": 32,
                                       "optim.batch_size": 2, "runtime.max_steps": 1,
                                       "model.segmenter.network": "tiny"})
    trainer = training.Trainer(config, seg_run, progress=False)
    trainer.train()
    both = predictor.Predictor.from_runs(run_dir, segmentation_run=seg_run)
    crops = np.random.default_rng(0).integers(0, 256, (2, 512, 512, 3), dtype=np.uint8)
    expected = graph.segment(trainer.model, tf.constant(crops)).numpy()
    result = both.segment_fit(crops)
    np.testing.assert_array_equal(result["part_labels"], expected)
    assert result["betas"].shape == (2, 10) and np.isfinite(result["smpl_joints_2d"]).all()
    with pytest.raises(ValueError, match="not a segmentation run"):
        predictor.load_segmentation_run(run_dir)
