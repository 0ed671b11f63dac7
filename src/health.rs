//! Platform health: is the API reachable, and does it accept this client's token?
//!
//! [`Client::health`] asks `GET {api_root}/api/v1/health` twice, as the Python SDK does: once
//! without credentials (`api_public`) and once with this client's token (`api_authenticated`),
//! each with [`Settings::health_timeout`](crate::Settings::health_timeout) (at most 300 s) and no retries (a
//! health check reports the present, it does not wait for a better one). Each component is
//! [`HealthStatus::Up`], [`HealthStatus::Degraded`] or [`HealthStatus::Down`] with a reason:
//! a status other than 200, a body that is not JSON, a transport failure or a failing token
//! source is `Down`; the body's `status` `"UP"` is `Up`, `"DEGRADED"` is `Degraded` (with the
//! body's `reason`), anything else `Down`. The overall status is the worst component's.
//!
//! `health` is not one of the API's operations: it is never cached and never retried.
//!
//! ```no_run
//! # let client = aignostics::Client::new()?;
//! let health = client.health();
//! if !health.status.is_up() {
//!     eprintln!("platform {}: {}", health.status, health.reason().unwrap_or("no reason given"));
//! }
//! # Ok::<(), aignostics::Error>(())
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::transport::{Api, exchange};

/// The health path below the API root.
pub(crate) const HEALTH_PATH: &str = "/api/v1/health";

/// Longest health timeout used (the setting's documented maximum); longer ones, up to
/// `Duration::MAX`, are cut to it instead of overflowing the clock.
const MAX_HEALTH_TIMEOUT: Duration = Duration::from_secs(300);

/// Largest health answer read.
const MAX_HEALTH_BODY: u64 = 64 * 1024;

/// The name of the unauthenticated component.
pub const API_PUBLIC: &str = "api_public";
/// The name of the authenticated component.
pub const API_AUTHENTICATED: &str = "api_authenticated";

/// Up, degraded or down, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthStatus {
    /// Working.
    Up,
    /// Working, with a problem worth knowing (see the reason).
    Degraded,
    /// Not usable.
    Down,
}

impl HealthStatus {
    /// Whether this is [`HealthStatus::Up`].
    pub fn is_up(self) -> bool {
        self == Self::Up
    }

    /// Whether this is [`HealthStatus::Down`].
    pub fn is_down(self) -> bool {
        self == Self::Down
    }

    /// `UP`, `DEGRADED` or `DOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "UP",
            Self::Degraded => "DEGRADED",
            Self::Down => "DOWN",
        }
    }
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The health of the platform as this client sees it: an overall status and its components
/// ([`API_PUBLIC`], [`API_AUTHENTICATED`]). Serialises as
/// `{"status": "UP", "components": {"api_public": {"status": "UP"}, ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The worst status of the components.
    pub status: HealthStatus,
    /// Each component's health by name.
    pub components: BTreeMap<String, ComponentHealth>,
}

impl Health {
    /// The reason of the worst component that is not up (`component: reason`), if any.
    pub fn reason(&self) -> Option<&str> {
        self.components
            .values()
            .filter(|c| c.status == self.status)
            .find_map(|c| c.reason.as_deref())
    }

    /// Whether a component is down only because the platform refused the credentials (HTTP
    /// 401 or 403): an authentication problem to fix by logging in or with another token,
    /// not an outage to wait out.
    pub fn credentials_refused(&self) -> bool {
        self.down_only_for(|c| c.credentials_refused)
    }

    /// Whether a component is down only because no token could be had (not logged in, no
    /// credentials configured): the platform may be fine; log in first.
    pub fn credentials_missing(&self) -> bool {
        self.down_only_for(|c| c.credentials_missing)
    }

    /// Whether some component is down for `why`, and every component that is down is down
    /// for it.
    fn down_only_for(&self, why: impl Fn(&ComponentHealth) -> bool) -> bool {
        self.components.values().any(&why)
            && self
                .components
                .values()
                .all(|c| c.status != HealthStatus::Down || why(c))
    }

    fn of(components: BTreeMap<String, ComponentHealth>) -> Self {
        let status = components
            .values()
            .map(|c| c.status)
            .max()
            .unwrap_or(HealthStatus::Up);
        Self { status, components }
    }
}

/// One component's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentHealth {
    /// Its status.
    pub status: HealthStatus,
    /// Why it is not up (absent when up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The platform answered 401 or 403: it is reachable, but refused the credentials. An
    /// authentication problem (log in again, check the token), not an outage.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credentials_refused: bool,
    /// No token could be had to ask with (not logged in, no credentials configured): a
    /// setup problem to fix by logging in, not an outage.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credentials_missing: bool,
}

impl ComponentHealth {
    fn up() -> Self {
        Self {
            status: HealthStatus::Up,
            reason: None,
            credentials_refused: false,
            credentials_missing: false,
        }
    }

    fn down(reason: impl Into<String>) -> Self {
        Self {
            status: HealthStatus::Down,
            reason: Some(reason.into()),
            credentials_refused: false,
            credentials_missing: false,
        }
    }
}

/// The health body's fields that matter.
#[derive(Deserialize)]
struct Body {
    status: Option<String>,
    reason: Option<String>,
}

/// Reads one component: `token` is `None` for the public check.
fn check(api: &Api, token: Option<&str>) -> ComponentHealth {
    let url = format!("{}{HEALTH_PATH}", api.api_root());
    let mut builder = ureq::http::Request::get(&url).header("Accept", "application/json");
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        builder = builder.header("Authorization", format!("Bearer {t}"));
    }
    let Ok(request) = builder.body(&[][..]) else {
        return ComponentHealth::down(format!("invalid health URL {url}"));
    };
    let timeout = api.settings().health_timeout.min(MAX_HEALTH_TIMEOUT);
    let raw = match exchange(api.agent(), request, "health", timeout, MAX_HEALTH_BODY) {
        Ok(raw) => raw,
        Err(e) => return ComponentHealth::down(format!("platform API not reachable: {e}")),
    };
    interpret(raw.status, &raw.body)
}

/// A component's health from the answer's status and body (untrusted: any bytes).
fn interpret(status: u16, body: &[u8]) -> ComponentHealth {
    if matches!(status, 401 | 403) {
        return ComponentHealth {
            credentials_refused: true,
            ..ComponentHealth::down(format!(
                "the platform refused the credentials (HTTP {status}): log in again or check \
                 the token; the platform itself answered"
            ))
        };
    }
    if status != 200 {
        return ComponentHealth::down(format!("platform API answered HTTP {status}"));
    }
    let Ok(body) = serde_json::from_slice::<Body>(body) else {
        return ComponentHealth::down("platform API health answer is not JSON");
    };
    match body.status.as_deref() {
        Some("UP") => ComponentHealth::up(),
        Some("DEGRADED") => ComponentHealth {
            status: HealthStatus::Degraded,
            reason: Some(
                body.reason
                    .unwrap_or_else(|| "platform API reports degraded service".into()),
            ),
            credentials_refused: false,
            credentials_missing: false,
        },
        other => ComponentHealth::down(body.reason.unwrap_or_else(|| {
            format!("platform API reports status {}", other.unwrap_or("(none)"))
        })),
    }
}

#[cfg_attr(feature = "async", aignostics_macros::twin)]
impl Client {
    /// The platform's health as this client sees it; see [`crate::health`]. Never fails: what
    /// goes wrong is reported as a `Down` component with its reason.
    ///
    /// ```
    /// # {
    /// use aignostics_sandbox::{self as sandbox, Sandbox};
    /// let sandbox = Sandbox::start()?;
    /// let health = sandbox.client(sandbox::ALICE_TOKEN)?.health();
    /// assert!(health.status.is_up());
    /// assert_eq!(health.components.len(), 2);
    /// # }
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    #[cfg_attr(feature = "async", twin(io))]
    pub fn health(&self) -> Health {
        let api = self.api();
        let public = check(api, None);
        let authenticated = match api.token() {
            Ok(token) => check(api, Some(&token)),
            Err(e) => ComponentHealth {
                credentials_missing: true,
                ..ComponentHealth::down(format!("no token: {e}"))
            },
        };
        Health::of(BTreeMap::from([
            (API_PUBLIC.to_string(), public),
            (API_AUTHENTICATED.to_string(), authenticated),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Proves the answer rules: only 200 with a JSON `status` counts, DEGRADED keeps the
    // platform's reason, anything else is DOWN. (FR-66)
    #[test]
    fn answers_are_interpreted_as_the_python_sdk_does() {
        assert_eq!(
            interpret(200, br#"{"status": "UP"}"#),
            ComponentHealth::up()
        );
        let degraded = interpret(200, br#"{"status": "DEGRADED", "reason": "slow"}"#);
        assert_eq!(degraded.status, HealthStatus::Degraded);
        assert_eq!(degraded.reason.as_deref(), Some("slow"));
        assert!(
            interpret(200, br#"{"status": "DEGRADED"}"#)
                .reason
                .is_some()
        );
        for (status, body) in [
            (200, &b"<html>ok</html>"[..]),
            (200, br#"{"status": "ok"}"#),
            (200, br#"{"status": 1}"#),
            (200, b"{}"),
            (204, b""),
            (503, br#"{"status": "UP"}"#),
        ] {
            assert!(
                interpret(status, body).status.is_down(),
                "{status} {body:?}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        // Proves any status and any body give a verdict without panicking, and only UP
        // bodies are UP. (FR-66)
        #[test]
        fn any_answer_gives_a_verdict(status in any::<u16>(), body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let verdict = interpret(status, &body);
            if verdict.status.is_up() {
                prop_assert_eq!(status, 200);
                prop_assert!(verdict.reason.is_none());
            } else {
                prop_assert!(verdict.reason.is_some());
            }
        }

        // Proves JSON bodies with arbitrary status and reason strings are handled. (FR-66)
        #[test]
        fn any_json_body_gives_a_verdict(status in "\\PC{0,12}", reason in proptest::option::of("\\PC{0,40}")) {
            let body = serde_json::json!({"status": status, "reason": reason}).to_string();
            let verdict = interpret(200, body.as_bytes());
            prop_assert_eq!(verdict.status.is_up(), status == "UP");
        }
    }
}
