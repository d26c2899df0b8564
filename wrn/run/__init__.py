"""One training or evaluation run: its directory, checkpoints, callbacks, the epoch loop."""
