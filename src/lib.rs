//! Rust client for the Aignostics Platform REST API.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod models;
