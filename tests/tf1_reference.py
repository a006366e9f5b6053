"""The original networks rebuilt as TF1 graphs with slim's variable names.

tf-slim itself no longer runs on TensorFlow 2.21, so the graphs are written
with `tf.compat.v1` variable scopes, `get_variable` and `tf.nn` ops, following
docs/networks.md:

- resnet_v1 with first-unit strides (on conv1 of the unit and on the
  projection shortcut), explicit padding for strided k > 1 convolutions, a
  2x2/2 max-pool after the 7x7 root, batch norm (inference statistics)
  without conv biases; optionally at an output stride, where slim's running
  stride / atrous rate bookkeeping is redone here with `tf.nn.atrous_conv2d`;
- the fitting network: resnet_v1_50 under `generator/`, global average
  pooling and the dense head `generator/weights`, `generator/biases`;
- the segmenter: resnet_v1_101 at the root and the RefineNet decoder, whose
  convolutions get slim's automatic names from `variable_scope(None,
  default_name="Conv")`, exactly as slim's unnamed `conv2d` calls did.

Used to test checkpoint porting.
"""
import numpy as np
import tensorflow as tf

v1 = tf.compat.v1
RESNET_V1_50 = ((64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1))
RESNET_V1_101 = ((64, 3, 1), (128, 4, 2), (256, 23, 2), (512, 3, 2))


def _random(rng, positive=False, stddev=0.1):
    """A seeded TF initializer: N(0, stddev), or U(0.5, 1.5) if `positive`.

    (Drawn by TF in the session rather than embedded as constants, which
    would put a ResNet-101's 400 MB into the graph.)
    """
    seed = int(rng.integers(2 ** 31 - 1))
    if positive:
        return v1.random_uniform_initializer(0.5, 1.5, seed=seed)
    return v1.random_normal_initializer(0.0, stddev, seed=seed)


def _conv(x, filters, kernel, stride, scope, rng, relu=True, rate=1):
    with v1.variable_scope(scope):
        shape = (kernel, kernel, int(x.shape[-1]), filters)
        scale = np.sqrt(2.0 / np.prod(shape[:3]))  # He initialisation keeps activations sane.
        weights = v1.get_variable("weights", shape, initializer=_random(rng, stddev=scale))
        if stride > 1 and kernel > 1:
            total = kernel - 1
            x = tf.pad(x, [[0, 0], [total // 2, total - total // 2],
                           [total // 2, total - total // 2], [0, 0]])
            padding = "VALID"
        else:
            padding = "SAME"
        if rate > 1:
            y = tf.nn.atrous_conv2d(x, weights, rate, "SAME")
        else:
            y = tf.nn.conv2d(x, weights, [1, stride, stride, 1], padding)
        with v1.variable_scope("BatchNorm"):
            beta = v1.get_variable("beta", [filters], initializer=_random(rng))
            gamma = v1.get_variable("gamma", [filters],
                                    initializer=_random(rng, positive=True))
            mean = v1.get_variable("moving_mean", [filters], initializer=_random(rng))
            variance = v1.get_variable("moving_variance", [filters],
                                       initializer=_random(rng, positive=True))
        y = tf.nn.batch_normalization(y, mean, variance, beta, gamma, 1e-5)
        return tf.nn.relu(y) if relu else y


def _unit(x, depth, stride, scope, rng, rate=1):
    with v1.variable_scope(scope), v1.variable_scope("bottleneck_v1"):
        if x.shape[-1] == depth:
            shortcut = x if stride == 1 else tf.nn.max_pool2d(x, 1, stride, "SAME")
        else:
            shortcut = _conv(x, depth, 1, stride, "shortcut", rng, relu=False)
        residual = _conv(x, depth // 4, 1, stride, "conv1", rng)
        residual = _conv(residual, depth // 4, 3, 1, "conv2", rng, rate=rate)
        residual = _conv(residual, depth, 1, 1, "conv3", rng, relu=False)
        return tf.nn.relu(shortcut + residual)


def build_resnet_v1(images, scope, blocks, rng, output_stride=None):
    """TF1 graph: images [B, S, S, 3] -> [block outputs], variables under `scope`."""
    outputs = []
    with v1.variable_scope(scope):
        x = _conv(images, 64, 7, 2, "conv1", rng)
        x = tf.nn.max_pool2d(x, 2, 2, "SAME")
        current_stride, rate = 4, 1
        for index, (base, units, block_stride) in enumerate(blocks, 1):
            with v1.variable_scope(f"block{index}"):
                for unit in range(units):
                    stride = block_stride if unit == 0 else 1
                    if current_stride == output_stride:
                        # Atrous from here on: the unit keeps the current rate, later ones
                        # see the rate times the stride this unit gives up.
                        x = _unit(x, 4 * base, 1, f"unit_{unit + 1}", rng, rate)
                        rate *= stride
                    else:
                        x = _unit(x, 4 * base, stride, f"unit_{unit + 1}", rng)
                        current_stride *= stride
            outputs.append(x)
    return outputs


def build_generator(images, latent_size, seed=0):
    """TF1 graph: images [B, S, S, 3] -> latent [B, latent_size], under scope 'generator'."""
    rng = np.random.default_rng(seed)
    with v1.variable_scope("generator"):
        x = build_resnet_v1(images, "resnet_v1_50", RESNET_V1_50, rng)[-1]
        features = tf.reduce_mean(x, axis=[1, 2])
        weights = v1.get_variable("weights", [features.shape[-1], latent_size],
                                  initializer=_random(rng))
        biases = v1.get_variable("biases", [latent_size], initializer=_random(rng))
        return tf.matmul(features, weights) + biases


def _decoder_conv(x, depth, rng, scope=None):
    """slim conv2d 3x3 with bias and no activation; unnamed ones are numbered by TF1."""
    with v1.variable_scope(scope, default_name="Conv"):
        shape = (3, 3, int(x.shape[-1]), depth)
        # Scaled so that the decoder's repeated doubling keeps values near 1.
        scale = 0.5 / np.sqrt(np.prod(shape[:3]))
        weights = v1.get_variable("weights", shape, initializer=_random(rng, stddev=scale))
        biases = v1.get_variable("biases", [depth], initializer=_random(rng))
        return tf.nn.conv2d(x, weights, 1, "SAME") + biases


def _rcu(x, rng):
    depth = int(x.shape[-1])
    return x + _decoder_conv(tf.nn.relu(_decoder_conv(tf.nn.relu(x), depth, rng)), depth, rng)


def _refine(x, higher, depth, rng):
    x = _decoder_conv(x, depth, rng)
    x = _rcu(x, rng) + x
    x = _rcu(x, rng) + x
    if higher is not None:
        x = _decoder_conv(x, depth, rng)
        h = _decoder_conv(higher, depth, rng)
        x = x + tf.compat.v1.image.resize_bilinear(h, x.shape[1:3])
    pooled = tf.nn.relu(x)
    total, t = pooled, pooled
    for _ in range(4):
        t = tf.nn.max_pool2d(_decoder_conv(t, depth, rng), 5, 1, "SAME")
        total = total + t
    return _rcu(total, rng) + total


def build_refinenet(images, num_classes=13, seed=0):
    """TF1 graph: images [B, S, S, 3] -> logits [B, S, S, num_classes] at the root scope."""
    rng = np.random.default_rng(seed)
    block1, block2, block3, block4 = build_resnet_v1(images, "resnet_v1_101", RESNET_V1_101, rng)
    x = _refine(block4, None, 512, rng)
    x = _refine(block3, x, 256, rng)
    x = _refine(block2, x, 256, rng)
    x = _refine(block1, x, 256, rng)
    logits = _decoder_conv(x, num_classes, rng, scope="logits")
    return tf.compat.v1.image.resize_bilinear(logits, images.shape[1:3])


def _save(path, build, inputs, bookkeeping, slot_scopes=("",)):
    """Builds `build(images)` [B, S, S, 3] -> outputs, saves its variables to `path`.

    With `bookkeeping`, adds what a training checkpoint holds: the global
    step, the beta powers and Adam's slots of the variables whose names start
    with one of `slot_scopes` (all by default). Returns the outputs for `inputs`.
    """
    graph = tf.Graph()
    with graph.as_default():
        images = v1.placeholder(tf.float32, [None, *inputs.shape[1:]])
        outputs = build(images)
        model_variables = v1.global_variables()
        if bookkeeping:
            v1.train.get_or_create_global_step()
            for variable in model_variables:
                if not variable.op.name.startswith(slot_scopes):
                    continue
                for slot in ("Adam", "Adam_1"):
                    v1.get_variable(f"{variable.op.name}/{slot}", variable.shape,
                                    initializer=v1.zeros_initializer())
            v1.get_variable("beta1_power", [], initializer=v1.constant_initializer(0.5))
            v1.get_variable("beta2_power", [], initializer=v1.constant_initializer(0.999))
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            values = session.run(outputs, {images: inputs})
            v1.train.Saver().save(session, path)
    return values


def save_training_checkpoint(path, latent_size, inputs, seed=0):
    """The fitting network's training checkpoint at `path`; returns its latents for `inputs`."""
    return _save(path, lambda images: build_generator(images, latent_size, seed), inputs, True)


def save_segmentation_checkpoint(path, inputs, seed=0, backbone_stride=8):
    """The RefineNet segmenter's training checkpoint at `path`.

    Returns (logits for `inputs`, [block outputs of its resnet_v1_101 run
    atrously at `backbone_stride`, with the same variables]), so one
    checkpoint tests both the segmenter and the atrous backbone. (Adam slots
    only for the decoder's last convolutions, to keep the file small.)
    """
    def build(images):
        logits = build_refinenet(images, seed=seed)
        with v1.variable_scope(v1.get_variable_scope(), reuse=True):
            blocks = build_resnet_v1(images, "resnet_v1_101", RESNET_V1_101,
                                     np.random.default_rng(seed), backbone_stride)
        return logits, blocks

    return _save(path, build, inputs, True, slot_scopes=("Conv_49", "logits"))


def zeroed(model):
    """`model` with every weight set to zero: a restore must bring each one back."""
    import tensorflow as tf

    for weight in model.weights:
        weight.assign(tf.zeros_like(weight))
    return model
