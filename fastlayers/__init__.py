"""fastlayers: the custom layers of Dive into Deep Learning on compiled kernels, PyTorch-shaped.

    import fastlayers as fl
    net = fl.Sequential(fl.LazyLinear(256, activation="relu"), fl.LazyLinear(10))
    y = net(x)
    grad_x = net.backward(grad_y)
"""

from . import functional, init, optim
from .autograd import no_grad, op
from .layers import Centered, FFTHalf, LazyLinear, LazyTensorReduction, Linear, ReLU, TensorReduction
from .module import Module, Sequential
from .parameter import Parameter
from .random import manual_seed
from .serialization import load, save

__all__ = [
    "Parameter",
    "Module",
    "Sequential",
    "Linear",
    "LazyLinear",
    "ReLU",
    "Centered",
    "TensorReduction",
    "LazyTensorReduction",
    "FFTHalf",
    "functional",
    "init",
    "optim",
    "no_grad",
    "op",
    "manual_seed",
    "save",
    "load",
]
