"""Shared-storage mechanisms: block I/O, the metadata codec, the whiteboard, the domain layout."""
