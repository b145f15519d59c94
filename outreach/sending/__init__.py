"""Sending: the consent and compliance gate, the worker, transports, delivery events."""
