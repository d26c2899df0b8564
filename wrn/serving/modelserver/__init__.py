"""A local stand-in of ModelArts' model server: it loads a model package and answers HTTP requests the way a
real-time service does, so a package can be run and tested before it is uploaded. ModelArts' own server exists
only inside its inference images; every behaviour here names the Huawei Cloud page it follows:

[pkg]  "Introduction to Model Package Specifications" / "Model Package Structure" (inference-modelarts-0055):
       a `model/` folder with exactly one config.json and one customize_service.py.
[cfg]  "Specifications for Editing a Model Configuration File" (inference-modelarts-0056): one API at url "/",
       method post; request Content-type multipart/form-data or application/json; `dependencies` installed by pip.
[code] "Specifications for Writing Model Inference Code" (inference-modelarts-0057): the child class of
       `model_service.model_service.SingleNodeService` with __init__(model_name, model_path), _preprocess,
       _inference, _postprocess; multipart data as {"field": {"file name": <file io>}}, JSON as the parsed dict;
       one prediction may take at most 40 s.
[apig] "Error APIG.XXXX Occurred in a Prediction Failure": request bodies over 12 MB are refused ("APIG.0201
       Request entity too large").
[err]  "Error ModelArts.4503 Occurred in Real-Time Service Prediction": errors are JSON objects with
       `error_code` and `error_msg`.
[health] "Importing a Meta Model from OBS": the health check URL defaults to /health.

Where the pages are silent (what model_name holds, how the child class is found, the exact 4xx codes) the
stand-in does the plain thing and says so where it does it.
"""
