//! `GET /api/v1/health`: the platform's health answer, which tests can turn degraded or down.

use serde_json::json;

use super::http::{Req, Resp};
use super::state::Shared;

/// What the sandbox's health endpoint reports; see [`Sandbox::set_health`](super::Sandbox::set_health).
///
/// ```
/// use aignostics_sandbox::{Sandbox, SandboxHealth};
/// let sandbox = Sandbox::start()?;
/// sandbox.set_health(SandboxHealth::Degraded("queue backlog".into()));
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SandboxHealth {
    /// `200 {"status": "UP"}` (the default).
    #[default]
    Up,
    /// `200 {"status": "DEGRADED", "reason": …}`.
    Degraded(String),
    /// `200 {"status": "DOWN", "reason": …}`.
    Down(String),
    /// This HTTP status with a FastAPI error body, e.g. 503.
    Status(u16),
}

/// Answers the health check. Without credentials it always answers; with a bearer token that
/// is not a user's it answers 401, so the authenticated check means something.
pub(crate) fn serve(shared: &Shared, req: &Req) -> Resp {
    if req.method != "GET" {
        return Resp::detail(405, "Method Not Allowed");
    }
    if req.header("authorization").is_some()
        && let Err(unauthorized) = shared.authenticate(req)
    {
        return unauthorized;
    }
    match shared.health.lock().clone() {
        SandboxHealth::Up => Resp::json(200, &json!({"status": "UP"})),
        SandboxHealth::Degraded(reason) => {
            Resp::json(200, &json!({"status": "DEGRADED", "reason": reason}))
        }
        SandboxHealth::Down(reason) => {
            Resp::json(200, &json!({"status": "DOWN", "reason": reason}))
        }
        SandboxHealth::Status(status) => Resp::detail(status, "sandbox: health check failed"),
    }
}
