"""Examples: an agent written against the protocol, and training SB3 on a suite (see README.md here)."""
