"""WideResNet (Zagoruyko & Komodakis, 2016) on CIFAR-10 and CIFAR-100 with MindSpore, offline or on ModelArts."""

__version__ = "0.1.0"
