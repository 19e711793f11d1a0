"""The node gateway (`freescode node serve`): fronts an OpenAI-compatible engine, meters clients, registers with a registry."""
