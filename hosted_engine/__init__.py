"""hosted-engine: keep one engine VM highly available across hosts sharing a storage domain."""

__version__ = "0.1.0"
