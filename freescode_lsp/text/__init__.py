"""Text as the editor counts it: documents held in chunks, and positions in UTF-8, UTF-16 or UTF-32 code units (pure)."""
