"""The ML core: the network, the CIFAR data pipelines, schedules, loss, optimizer, train step and metrics; explicit
arguments, no config."""
