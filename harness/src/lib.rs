//! The idmesh harness (work in progress): the embedded Workday simulator.

pub mod sim;
