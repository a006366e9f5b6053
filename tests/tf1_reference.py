"""The original fitting network rebuilt as a TF1 graph with slim's variable names.

tf-slim itself no longer runs on TensorFlow 2.21, so the graph is written
with `tf.compat.v1` variable scopes, `get_variable` and `tf.nn` ops, following
docs/networks.md: resnet_v1_50 with first-unit strides (on conv1 of the
unit and on the projection shortcut), explicit padding for strided k > 1
convolutions, a 2x2/2 max-pool after the 7x7 root, batch norm (inference
statistics) without conv biases, global average pooling and the dense head
`generator/weights`, `generator/biases`. Used to test checkpoint porting.
"""
import numpy as np
import tensorflow as tf

v1 = tf.compat.v1
BLOCKS = ((64, 3, 2), (128, 4, 2), (256, 6, 2), (512, 3, 1))


def _random(shape, rng, positive=False):
    value = rng.uniform(0.5, 1.5, shape) if positive else rng.normal(0, 0.1, shape)
    return v1.constant_initializer(value.astype(np.float32))


def _conv(x, filters, kernel, stride, scope, rng, relu=True):
    with v1.variable_scope(scope):
        shape = (kernel, kernel, int(x.shape[-1]), filters)
        scale = np.sqrt(2.0 / np.prod(shape[:3]))  # He initialisation keeps activations sane.
        weights = v1.get_variable("weights", shape, initializer=v1.constant_initializer(
            rng.normal(0, scale, shape).astype(np.float32)))
        if stride > 1 and kernel > 1:
            total = kernel - 1
            x = tf.pad(x, [[0, 0], [total // 2, total - total // 2],
                           [total // 2, total - total // 2], [0, 0]])
            padding = "VALID"
        else:
            padding = "SAME"
        y = tf.nn.conv2d(x, weights, [1, stride, stride, 1], padding)
        with v1.variable_scope("BatchNorm"):
            beta = v1.get_variable("beta", [filters], initializer=_random([filters], rng))
            gamma = v1.get_variable("gamma", [filters],
                                    initializer=_random([filters], rng, positive=True))
            mean = v1.get_variable("moving_mean", [filters], initializer=_random([filters], rng))
            variance = v1.get_variable("moving_variance", [filters],
                                       initializer=_random([filters], rng, positive=True))
        y = tf.nn.batch_normalization(y, mean, variance, beta, gamma, 1e-5)
        return tf.nn.relu(y) if relu else y


def _unit(x, depth, stride, scope, rng):
    with v1.variable_scope(scope), v1.variable_scope("bottleneck_v1"):
        if x.shape[-1] == depth:
            shortcut = x if stride == 1 else tf.nn.max_pool2d(x, 1, stride, "SAME")
        else:
            shortcut = _conv(x, depth, 1, stride, "shortcut", rng, relu=False)
        residual = _conv(x, depth // 4, 1, stride, "conv1", rng)
        residual = _conv(residual, depth // 4, 3, 1, "conv2", rng)
        residual = _conv(residual, depth, 1, 1, "conv3", rng, relu=False)
        return tf.nn.relu(shortcut + residual)


def build_generator(images, latent_size, seed=0):
    """TF1 graph: images [B, S, S, 3] -> latent [B, latent_size], under scope 'generator'."""
    rng = np.random.default_rng(seed)
    with v1.variable_scope("generator"):
        with v1.variable_scope("resnet_v1_50"):
            x = _conv(images, 64, 7, 2, "conv1", rng)
            x = tf.nn.max_pool2d(x, 2, 2, "SAME")
            for index, (base, units, stride) in enumerate(BLOCKS, 1):
                with v1.variable_scope(f"block{index}"):
                    for unit in range(units):
                        x = _unit(x, 4 * base, stride if unit == 0 else 1, f"unit_{unit + 1}",
                                  rng)
        features = tf.reduce_mean(x, axis=[1, 2])
        weights = v1.get_variable("weights", [features.shape[-1], latent_size],
                                  initializer=_random([features.shape[-1], latent_size], rng))
        biases = v1.get_variable("biases", [latent_size], initializer=_random([latent_size], rng))
        return tf.matmul(features, weights) + biases


def save_training_checkpoint(path, input_size, latent_size, inputs, seed=0):
    """Builds the graph, adds a training checkpoint's bookkeeping, saves; returns outputs."""
    graph = tf.Graph()
    with graph.as_default():
        images = v1.placeholder(tf.float32, [None, input_size, input_size, 3])
        latent = build_generator(images, latent_size, seed)
        model_variables = v1.global_variables()
        v1.train.get_or_create_global_step()
        for variable in model_variables:
            for slot in ("Adam", "Adam_1"):
                v1.get_variable(f"{variable.op.name}/{slot}", variable.shape,
                                initializer=v1.zeros_initializer())
        v1.get_variable("beta1_power", [], initializer=v1.constant_initializer(0.5))
        v1.get_variable("beta2_power", [], initializer=v1.constant_initializer(0.999))
        with v1.Session(graph=graph) as session:
            session.run(v1.global_variables_initializer())
            outputs = session.run(latent, {images: inputs})
            v1.train.Saver().save(session, path)
    return outputs
