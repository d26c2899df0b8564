"""`SingleNodeService`, the parent class of MindSpore inference code ([code]: Table 1 of "Specifications for
Writing Model Inference Code", inference-modelarts-0057), as that page describes what the platform calls."""


class SingleNodeService(object):
    """[code] The platform creates the child class once with (model_name, model_path) and, for each request,
    calls `_preprocess` (the request data -> the model's input), `_inference` (the model's input -> its output)
    and `_postprocess` (the output -> the API's answer), in that order, each with the previous one's result."""

    def __init__(self, model_name, model_path):
        # [code] "The attribute that can be used is the local path where the model resides ... self.model_path";
        # the documented examples set both attributes themselves without calling this.
        self.model_name = model_name
        self.model_path = model_path

    def _preprocess(self, data):
        """[code] Converts the original request data of the API into the model's expected input."""
        return data

    def _inference(self, data):
        """[code] The built-in inference of the engine; MindSpore inference code overrides it (the documented
        MindSpore example does), so the stand-in has no engine of its own behind it."""
        raise NotImplementedError("SingleNodeService._inference: the inference code must override it")

    def _postprocess(self, data):
        """[code] Converts the model output into the API output."""
        return data

    def inference(self, data):
        """One request: the three steps in order ([code] Table 2)."""
        return self._postprocess(self._inference(self._preprocess(data)))
