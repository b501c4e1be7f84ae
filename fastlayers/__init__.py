"""fastlayers: the custom layers of Dive into Deep Learning on compiled kernels, PyTorch-shaped.

    import fastlayers as fl
    net = fl.Sequential(fl.LazyLinear(256, activation="relu"), fl.LazyLinear(10))
    y = net(x)
    grad_x = net.backward(grad_y)
"""

from . import data, functional, init, numpy_grads, optim  # numpy_grads: NumPy's gradient rules, registered on import
from .autograd import backward, detach, no_grad, op
from .layers import (Centered, CrossEntropyLoss, FFTHalf, LazyLinear, LazyTensorReduction, Linear, MSELoss, ReLU,
                     TensorReduction)
from .module import Module, ModuleList, Sequential
from .parameter import Parameter
from .tensor import Tensor
from .train_step import TrainStep
from .random import manual_seed
from .serialization import CheckpointError, load, save

__all__ = [
    "Parameter",
    "Module",
    "Sequential",
    "ModuleList",
    "Tensor",
    "Linear",
    "LazyLinear",
    "ReLU",
    "Centered",
    "TensorReduction",
    "LazyTensorReduction",
    "FFTHalf",
    "CrossEntropyLoss",
    "MSELoss",
    "backward",
    "TrainStep",
    "data",
    "functional",
    "init",
    "optim",
    "no_grad",
    "op",
    "detach",
    "manual_seed",
    "save",
    "load",
    "CheckpointError",
]
