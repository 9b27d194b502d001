//! Criterion benchmarks of the gossip member (filled in with the member).

fn main() {}
