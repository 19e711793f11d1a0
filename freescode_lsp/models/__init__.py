"""Models: the catalog, their weight files, GGUF headers and memory footprints."""
