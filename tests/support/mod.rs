//! Shared helpers of the integration tests.
#![allow(dead_code)] // each test file uses a different part

pub mod bodies;
pub mod capture;
pub mod customer;
pub mod delivery;
pub mod fanout_mocks;
pub mod mocks;
pub mod routing;
pub mod stack;
