"""What runs inside a model service: decode an uploaded image, run an exported model, answer as ModelArts'
image-classification response. Nothing here imports the rest of `wrn` (training, platform, config) or MindSpore's
training code; modules import each other relatively, so `wrn.cli package` copies this folder into a model package
(as `wrn_serving/`) and it runs there on Python 3.7 with numpy, Pillow and onnxruntime only (MindSpore only for a
.mindir, imported when one is opened). `modelserver/` is the local stand-in of ModelArts' model server and is not
copied: on ModelArts the platform provides it.
"""
