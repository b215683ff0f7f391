"""The names of the training building blocks in ``ml.training``, without torch: parameter
checks in the web process use these, and tests check they match the real registries."""

OPTIMIZER_NAMES = ("adam", "adamw", "sgd", "rmsprop")
AUTOENCODER_LOSS_NAMES = ("mse", "l1", "smooth_l1", "bce")
AUGMENT_MODE_NAMES = ("invariant", "both")
