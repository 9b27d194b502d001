//! Gossip of heartbeat versions (filled in by the gossip work).
