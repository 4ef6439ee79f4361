"""Emulated EmberZNet NCP: ASH + EZSP over TCP or a pty, NV tokens, radio below."""
