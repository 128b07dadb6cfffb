"""Data access: small functions, one SQL statement each, always scoped to a professional where data is theirs."""
