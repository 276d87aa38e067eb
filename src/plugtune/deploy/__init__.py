"""Deployable forms of a trained run beyond merged safetensors: GGUF files for llama.cpp
(whole models and LoRA adapters, quantized) and Ollama Modelfiles. The exporter plugins
call these; conversion runs llama.cpp's own converter in a process of its own."""
