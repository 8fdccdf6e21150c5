"""Local configuration: hosted-engine.conf, broker.conf and timing profiles."""
