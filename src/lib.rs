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
mod status;
mod token;

pub use api::{Api, user_agent};
pub use client::{Client, ClientBuilder};
#[doc(hidden)]
pub use client::{external_pool_len, reset_pools};
pub use error::{ApiError, Error, Result, TransportKind};
pub use pagination::Pages;
pub use resources::*;
pub use settings::{Environment, OperationSettings, Settings};
pub use status::{
    ERROR_TERMINATION_REASONS, ItemStatus, RunStatus, can_download_item, can_download_run_items,
    item_status, run_progress, run_status,
};
pub use token::TokenProvider;
