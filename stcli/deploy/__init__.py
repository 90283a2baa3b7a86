"""Taking a model elsewhere: ONNX export and int8 quantization, and measuring backends."""
