"""Engine VM backends: start, stop and observe the engine VM on this host."""
