"""Local development tools: the template reader and the embedded server behind ``make serve``."""
