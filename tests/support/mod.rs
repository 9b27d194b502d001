//! Test support shared by the cluster tests.
#![allow(dead_code)]

pub mod net;
