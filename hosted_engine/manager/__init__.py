"""The management application the engine VM runs: REST API, web UI, host registry."""
