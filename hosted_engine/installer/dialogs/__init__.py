"""Talking to whoever runs the installer: a person (human dialect) or a manager (machine)."""
