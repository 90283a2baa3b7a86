"""How a network runs: the device and backend choice with the onnxruntime engine
(``backends``, no torch), eager torch (``torch_engine``), OpenVINO (``openvino_engine``),
ONNX metadata (``onnx_meta``) and the export cache (``onnx_export``)."""
