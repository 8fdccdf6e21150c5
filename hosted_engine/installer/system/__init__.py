"""Providers that touch the machine: programs, services, packages."""
