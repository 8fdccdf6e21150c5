"""Broker monitors: the typed measurements the agent scores and decides on (spec 4.2)."""

from hosted_engine.broker.monitors.base import Degraded, Monitor, MonitorReading, MonitorRunner
from hosted_engine.broker.monitors.factory import build_monitors

__all__ = ["Degraded", "Monitor", "MonitorReading", "MonitorRunner", "build_monitors"]
