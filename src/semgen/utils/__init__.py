"""Small shared helpers: atomic file writes, owned randomness, typed configuration, progress bars."""
