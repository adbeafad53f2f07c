"""The benchmark architectures in Keras 3, layer for layer as in cnnlab.

Set `KERAS_BACKEND=jax` (and `KERAS_HOME`) before importing this module.
Every model ends in a linear `predictions` layer (logits), like cnnlab's.
"""
import keras
from keras import layers


def mnist_cnn(image_shape, num_classes):
    """Conv32-3 / pool / Conv64-3 / pool / Conv64-3 / Flatten / Dense64 / Dense."""
    return keras.Sequential([
        keras.Input(image_shape),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(num_classes, name="predictions"),
    ])


def cifar10_cnn(image_shape, num_classes):
    """The Keras `cifar10_cnn.py` example convnet."""
    stack = [keras.Input(image_shape)]
    for width in (32, 64):
        stack += [layers.Conv2D(width, 3, padding="same", activation="relu"),
                  layers.Conv2D(width, 3, activation="relu"),
                  layers.MaxPooling2D(2),
                  layers.Dropout(0.25)]
    stack += [layers.Flatten(), layers.Dense(512, activation="relu"), layers.Dropout(0.5),
              layers.Dense(num_classes, name="predictions")]
    return keras.Sequential(stack)


def resnet18_cifar(image_shape, num_classes):
    """ResNet-18 with the CIFAR stem (3x3/1 conv, no max pool), torchvision conventions."""

    def conv(x, width, kernel, stride):
        padding = "same" if kernel == 3 else "valid"
        if kernel == 3 and stride > 1:  # torch pads 1 on every side; Keras 'same' would not
            x, padding = layers.ZeroPadding2D(1)(x), "valid"
        return layers.Conv2D(width, kernel, stride, padding=padding, use_bias=False)(x)

    def bn(x):
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)

    def block(x, width, stride):
        short = x
        if stride != 1 or x.shape[-1] != width:
            short = bn(conv(x, width, 1, stride))
        y = layers.ReLU()(bn(conv(x, width, 3, stride)))
        y = bn(conv(y, width, 3, 1))
        return layers.ReLU()(layers.Add()([short, y]))

    inputs = keras.Input(image_shape)
    x = layers.ReLU()(bn(conv(inputs, 64, 3, 1)))
    for stage, width in enumerate((64, 128, 256, 512)):
        for b in range(2):
            x = block(x, width, 2 if stage > 0 and b == 0 else 1)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(num_classes, name="predictions")(x))


def vgg16_64(image_shape, num_classes):
    """`keras.applications.VGG16` with the top, logits out, sized for `image_shape`."""
    return keras.applications.VGG16(weights=None, include_top=True, input_shape=image_shape,
                                    classes=num_classes, classifier_activation=None)


BUILDERS = {f.__name__: f for f in (mnist_cnn, cifar10_cnn, resnet18_cifar, vgg16_64)}


def build(name, image_shape, num_classes):
    """The Keras model for benchmark model `name`."""
    if name not in BUILDERS:
        raise ValueError(f"no Keras peer for {name!r}; known: {sorted(BUILDERS)}.")
    return BUILDERS[name](tuple(image_shape), num_classes)
