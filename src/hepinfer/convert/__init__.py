"""How a model file is made: torch->onnx now; keras->onnx, onnx->sofie later."""
