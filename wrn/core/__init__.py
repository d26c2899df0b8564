"""The ML core: the network, CIFAR data, schedules, loss, optimizer and metrics; explicit arguments, no config."""
