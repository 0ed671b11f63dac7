//! # aignostics
//!
//! The Rust client of the [Aignostics Platform](https://platform.aignostics.com).
//!
//! A [`Client`] reads the current user ([`Client::me`]) and hands out one handler per API
//! area, each a cheap clone of the client:
//! [`applications()`](Client::applications) ([`Applications`]),
//! [`versions()`](Client::versions) ([`Versions`], with [`Documents`]),
//! [`runs()`](Client::runs) ([`Runs`]: validated submit and run lists),
//! [`run(id)`](Client::run) ([`Run`]: details, items, artifacts, cancel, custom metadata, sharing),
//! [`grants()`](Client::grants) ([`Grants`]) and [`share_tokens()`](Client::share_tokens)
//! ([`ShareTokens`]). Lists are lazy [`Pages`] iterators; reads are cached per user; writes are
//! never retried. [`run_status`], [`item_status`] and friends say what a state means.
//!
//! ```no_run
//! use aignostics::{Client, TokenProvider};
//!
//! let client = Client::builder()
//!     .token_provider(TokenProvider::new(|| std::env::var("AIGNOSTICS_TOKEN").unwrap_or_default()))
//!     .build()?;
//! for run in client.runs().list().application_id("he-tme").submitted_by("me").iter().take(5) {
//!     let run = run?;
//!     println!("{} {} {:.0}%", run.run_id, run.status(), run.progress());
//! }
//! # Ok::<(), aignostics::Error>(())
//! ```
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

// Compiles the README's examples as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// Compiles the fleet token guide's example.
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../docs/FLEET_TOKENS.md")]
struct FleetTokensDoctests;
