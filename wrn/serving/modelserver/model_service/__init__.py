"""Stand-in of ModelArts' `model_service` package (see `wrn.serving.modelserver`): only `model_service.model_service`
with `SingleNodeService`, the parent class of MindSpore inference code."""
