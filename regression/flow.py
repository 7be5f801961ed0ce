"""RealNVP (Dinh et al. 2017) on the plane: the learned density of RLE's residual loss.

Residual Log-likelihood Estimation (Li et al., ICCV 2021) models a keypoint's error,
scaled by the network's own sigma, e = (mu - y) / sigma, with a density learned during
training. That density is a normalising flow: an invertible map f from the plane to a
standard normal z, so that

    log p(e) = log N(f(e); 0, I) + log |det df/de|.

f is a chain of affine couplings. Each keeps one coordinate (a) and moves the other (b)
by a scale and a shift computed from the kept one: b' = (b - t(a)) * exp(-s(a)), whose
log-determinant is simply -s(a). Couplings alternate which coordinate they keep, so
both are moved. s ends in tanh so that no coupling stretches by more than e.

Keras layers and keras.ops only, so it trains under any backend. It is used by the loss
alone: a trained model predicts without it.
"""
import math

import keras
from keras import layers, ops

COUPLINGS = 6        # three pairs, each moving x then y (the paper's RealNVP)
HIDDEN = 64          # width of each coupling's two hidden layers


def _net(name, last_activation=None):
    """2 -> HIDDEN -> HIDDEN -> 1 (the one coordinate a coupling moves), in float32
    under any mixed-precision policy: it is part of the loss."""
    return keras.Sequential([
        layers.Dense(HIDDEN, activation="leaky_relu", name=f"{name}_1", dtype="float32"),
        layers.Dense(HIDDEN, activation="leaky_relu", name=f"{name}_2", dtype="float32"),
        layers.Dense(1, activation=last_activation, name=f"{name}_out", dtype="float32"),
    ], name=name)


class PlanarFlow(layers.Layer):
    """log_prob(e): the flow's log-density of 2-D points e (..., 2), float32 (...)."""

    def __init__(self, couplings=COUPLINGS, **kwargs):
        super().__init__(**{"dtype": "float32", **kwargs})
        self.couplings = couplings
        self.scales = [_net(f"{self.name}_s{i}", "tanh") for i in range(couplings)]
        self.shifts = [_net(f"{self.name}_t{i}") for i in range(couplings)]

    def build(self, input_shape=None):
        for net in (*self.scales, *self.shifts):
            # The nets see the kept coordinate with the moved one zeroed (a fixed 2-wide
            # input, as masked couplings do), so every coupling has the same shape.
            net.build((None, 2))
        self.built = True

    def log_prob(self, e):
        e = ops.cast(e, "float32")
        shape = ops.shape(e)
        z = ops.reshape(e, (-1, 2))
        log_det = ops.zeros(ops.shape(z)[:1], "float32")
        for i in range(self.couplings):
            moved = i % 2                    # coupling i moves x (0) or y (1)
            keep_mask = ops.convert_to_tensor([[1.0, 0.0]] if moved else [[0.0, 1.0]])
            kept = z * keep_mask
            s = self.scales[i](kept)[:, 0]
            t = self.shifts[i](kept)[:, 0]
            b = (z[:, moved] - t) * ops.exp(-s)
            z = ops.stack([b, z[:, 1]] if moved == 0 else [z[:, 0], b], axis=-1)
            log_det = log_det - s
        log_normal = -0.5 * ops.sum(ops.square(z), axis=-1) - math.log(2 * math.pi)
        return ops.reshape(log_normal + log_det, shape[:-1])

    def call(self, e):
        return self.log_prob(e)
