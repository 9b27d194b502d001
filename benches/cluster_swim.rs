//! Criterion benchmarks of the swim member (filled in with the member).

fn main() {}
