"""The language server: the pygls server, its document adapters, and one module per feature (features/)."""
