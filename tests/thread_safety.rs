//! The client's handles can be shared between threads and cloned. A type that lost `Send`,
//! `Sync` or `Clone` makes this file fail to compile.

use aignostics::{
    Applications, Artifact, Client, ClientBuilder, Documents, DownloadOptions, Grants,
    ListApplications, ListGrants, ListItems, ListRuns, ListShareTokens, Run, Runs, Settings,
    ShareTokens, TokenProvider, Versions, WaitOptions,
};

fn shareable<T: Send + Sync + Clone + 'static>() {}
fn sendable<T: Send + Sync + 'static>() {}

// Proves the client, every handler and list builder, the token sources, settings, options and
// errors are Send + Sync (and the handles Clone), with and without the optional features. (NFR-10)
#[test]
fn handles_are_send_sync_and_clone() {
    shareable::<Client>();
    shareable::<ClientBuilder>();
    shareable::<Applications>();
    shareable::<ListApplications>();
    shareable::<Versions>();
    shareable::<Documents>();
    shareable::<Runs>();
    shareable::<ListRuns>();
    shareable::<Run>();
    shareable::<ListItems>();
    shareable::<Artifact>();
    shareable::<Grants>();
    shareable::<ListGrants>();
    shareable::<ShareTokens>();
    shareable::<ListShareTokens>();
    shareable::<TokenProvider>();
    shareable::<Settings>();
    shareable::<DownloadOptions>();
    shareable::<WaitOptions>();
    shareable::<aignostics::auth::ClientCredentials>();
    sendable::<aignostics::Error>();
    sendable::<aignostics::Api>();
    sendable::<aignostics::DownloadReport>();
    #[cfg(feature = "redis")]
    shareable::<aignostics::auth::RedisTokenCache>();
    #[cfg(feature = "async")]
    {
        use aignostics::nonblocking;
        shareable::<nonblocking::Client>();
        shareable::<nonblocking::Run>();
        shareable::<nonblocking::Runs>();
        shareable::<nonblocking::Applications>();
        shareable::<nonblocking::Versions>();
        shareable::<nonblocking::Documents>();
        shareable::<nonblocking::Grants>();
        shareable::<nonblocking::ShareTokens>();
    }
    sendable::<aignostics_sandbox::Sandbox>();
}
