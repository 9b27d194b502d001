//! SWIM probes with Lifeguard (filled in by the probe work).
