"""The in-process engine: llama.cpp models in a pool, each on its own thread, tried once in a child before use."""
