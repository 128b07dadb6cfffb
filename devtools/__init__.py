"""Local development and test tooling: never shipped to Lambda."""
