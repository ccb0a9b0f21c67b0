"""Pictures: pattern atlas, corruption gallery, restoration triplets, curves, result charts."""
