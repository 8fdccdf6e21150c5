"""A deterministic simulator of a whole cluster in one process (``python -m hosted_engine.sim``).

N hosts run the real agent loop (``Agent.loop_once``, ``decide``, the score), the real
broker pieces (``StatusPublisher`` with its liveness tracking, ``BrokerService``'s
snapshot, the engine-health monitor) and the shipped fakes (``MemoryLeaseManager``,
``FakeVmBackend``, ``FakeClock``) on a simulated clock. Only I/O is simulated: the shared
whiteboard and lockspace live in memory, where faults are injected. One seed fixes every
random choice, so a failing seed replays exactly.
"""
