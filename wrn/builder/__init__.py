"""The config meets the core: the network, data pipeline, trainer and runtime a Config asks for."""
