"""Transports: one small interface (base.Transport), one module per provider."""
