"""One training or evaluation run: the epoch loop and where it starts, what a resume may change, the checkpoint
policy, the callbacks and watchers, evaluation of a checkpoint, the demo. Its folder is `wrn.output`'s."""
