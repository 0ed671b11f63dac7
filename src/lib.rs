//! # aignostics
//!
//! The Rust client of the [Aignostics Platform](https://platform.aignostics.com).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api;
pub mod auth;
pub mod cache;
mod client;
mod error;
pub mod models;
pub mod pagination;
mod resources;
mod retry;
pub mod settings;
mod token;

pub use api::{Api, user_agent};
pub use client::{Client, ClientBuilder};
#[doc(hidden)]
pub use client::{external_pool_len, reset_pools};
pub use error::{ApiError, Error, Result, TransportKind};
pub use pagination::Pages;
pub use resources::*;
pub use settings::{Environment, OperationSettings, Settings};
pub use token::TokenProvider;

// Compiles the README's examples as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
