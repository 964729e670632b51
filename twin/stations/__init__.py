"""Station kinds of the line, one module each."""
