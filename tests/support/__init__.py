"""Helpers shared by loadkit's tests (real processes, real sockets)."""
