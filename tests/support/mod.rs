//! Test support shared by the cluster tests.
#![allow(dead_code)]

#[cfg(feature = "qos")] // foca's randomness needs `rand`, which `qos` brings
pub mod foca;
pub mod net;
