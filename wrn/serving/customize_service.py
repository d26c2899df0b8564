"""ModelArts inference code of a WideResNet model package (written into OUT/model/ by `python -m wrn.cli package`).

Per "Specifications for Writing Model Inference Code" (ModelArts, inference-modelarts-0057,
support.huaweicloud.com/intl/en-us/inference-modelarts/inference-modelarts-0057.html):
- the file is named customize_service.py, one per package, and holds a child of the parent class of its model
  type: for MindSpore, `SingleNodeService` from `model_service.model_service` (Table 1), which the inference image
  provides (never installed by the package);
- it overrides `__init__(self, model_name, model_path)`, `_preprocess(self, data)`, `_inference(self, data)` and
  `_postprocess(self, data)` (Table 2): the request data -> the model's input -> the model's output -> the answer;
- files it reads are found by absolute path, from the model folder.
The helper modules (`wrn_serving/`) sit next to this file. The page recommends relative imports; a file loaded as a
top-level module cannot use them, so this folder goes first on sys.path and the import works both ways.
"""

import os
import sys

_MODEL_DIR = os.path.dirname(os.path.abspath(__file__))
if _MODEL_DIR not in sys.path:
    sys.path.insert(0, _MODEL_DIR)

from model_service.model_service import SingleNodeService  # noqa: E402  (the platform's base class)

from wrn_serving.service import ImageClassifier  # noqa: E402


class WideResNetService(SingleNodeService):
    """CIFAR image classification: one image file in the `images` field -> `predicted_label` and the top-5
    `scores` as [class name, probability] pairs."""

    def __init__(self, model_name, model_path):
        # The documented MindSpore example sets these itself instead of calling the parent's __init__.
        self.model_name = model_name
        self.model_path = model_path
        # The model file is in this file's folder whatever model_path names (a folder, or a file in it).
        self.classifier = ImageClassifier(_MODEL_DIR)

    def _preprocess(self, data):
        return self.classifier.preprocess(data)

    def _inference(self, data):
        return self.classifier.infer(data)

    def _postprocess(self, data):
        return self.classifier.answer(data)
