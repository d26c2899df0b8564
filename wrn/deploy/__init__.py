"""After training: export to MINDIR/ONNX/AIR (float or raw input, INT8 for CPU), the Ascend310 file formats with a
CPU runner, and the ModelArts model package. Imports nothing of `wrn.run`."""
