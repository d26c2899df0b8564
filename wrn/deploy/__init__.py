"""After training: export to MINDIR/ONNX/AIR and the Ascend310 file formats with a CPU runner."""
