"""The host API (``hosted-engine-hostd``): one HTTPS service per host, mutual TLS only.

It plays for the manager the role VDSM plays for oVirt's engine: the manager never reads
a host's files or sockets, it asks the host's hostd, which is built on the public client
API only. :mod:`hosted_engine.hostd.contract` is what both sides import.
"""
