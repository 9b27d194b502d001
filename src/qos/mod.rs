//! QoS lab (work in progress).
