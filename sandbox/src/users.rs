//! Sandbox users, their tokens and the OAuth clients of the token endpoint.

/// Bearer token of the default user Alice ([`SandboxUser::alice`]).
pub const ALICE_TOKEN: &str = "sandbox-token-alice";
/// Bearer token of the default user Bob ([`SandboxUser::bob`]), who is in another organization.
pub const BOB_TOKEN: &str = "sandbox-token-bob";
/// Refresh token of Alice for the token endpoint's `refresh_token` grant.
pub const ALICE_REFRESH_TOKEN: &str = "sandbox-refresh-alice";
/// Client id accepted by the token endpoint's `client_credentials` grant by default.
pub const CLIENT_ID: &str = "sandbox-client";
/// Client secret paired with [`CLIENT_ID`].
pub const CLIENT_SECRET: &str = "sandbox-client-secret";

/// A user of the sandbox: what `GET /v1/me` returns and whose runs are whose.
///
/// Runs are visible to the user who submitted them and to subjects of a viewer grant;
/// everybody else gets 403.
///
/// ```
/// use aignostics_sandbox::SandboxUser;
/// let carol = SandboxUser::new("sandbox|carol", "carol@sandbox.example", "org_sandbox_a")
///     .organization_name("Sandbox A");
/// assert_eq!(carol.organization_id, SandboxUser::alice().organization_id);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SandboxUser {
    /// User id, e.g. `sandbox|alice`; reported as `submitted_by` and `created_by`.
    pub id: String,
    /// Email address.
    pub email: String,
    /// Organization id, e.g. `org_sandbox_a`.
    pub organization_id: String,
    /// Organization name.
    pub organization_name: String,
}

impl SandboxUser {
    /// A user; the organization name defaults to its id.
    ///
    /// ```
    /// let user = aignostics_sandbox::SandboxUser::new("sandbox|erin", "erin@example.com", "org_e");
    /// assert_eq!(user.organization_name, "org_e");
    /// ```
    #[must_use]
    pub fn new(
        id: impl Into<String>,
        email: impl Into<String>,
        organization_id: impl Into<String>,
    ) -> Self {
        let organization_id = organization_id.into();
        Self {
            id: id.into(),
            email: email.into(),
            organization_name: organization_id.clone(),
            organization_id,
        }
    }

    /// Sets the organization name.
    ///
    /// ```
    /// let user = aignostics_sandbox::SandboxUser::new("u", "u@example.com", "org_u")
    ///     .organization_name("Org U");
    /// assert_eq!(user.organization_name, "Org U");
    /// ```
    #[must_use]
    pub fn organization_name(mut self, name: impl Into<String>) -> Self {
        self.organization_name = name.into();
        self
    }

    /// Alice (`sandbox|alice`, organization `org_sandbox_a`), token [`ALICE_TOKEN`].
    ///
    /// ```
    /// let alice = aignostics_sandbox::SandboxUser::alice();
    /// assert_eq!(alice.id, "sandbox|alice");
    /// ```
    #[must_use]
    pub fn alice() -> Self {
        Self::new("sandbox|alice", "alice@sandbox.example", "org_sandbox_a")
            .organization_name("Sandbox Org A")
    }

    /// Bob (`sandbox|bob`, organization `org_sandbox_b`), token [`BOB_TOKEN`].
    ///
    /// ```
    /// use aignostics_sandbox::SandboxUser;
    /// assert_ne!(SandboxUser::bob().organization_id, SandboxUser::alice().organization_id);
    /// ```
    #[must_use]
    pub fn bob() -> Self {
        Self::new("sandbox|bob", "bob@sandbox.example", "org_sandbox_b")
            .organization_name("Sandbox Org B")
    }

    /// The machine user behind a client of the `client_credentials` grant
    /// (`{client_id}@clients`, in Alice's organization).
    ///
    /// ```
    /// let user = aignostics_sandbox::SandboxUser::machine("ci");
    /// assert_eq!(user.id, "ci@clients");
    /// ```
    #[must_use]
    pub fn machine(client_id: &str) -> Self {
        Self::new(
            format!("{client_id}@clients"),
            format!("{client_id}@clients.sandbox.example"),
            "org_sandbox_a",
        )
        .organization_name("Sandbox Org A")
    }
}

/// A client of the `client_credentials` grant.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    pub user: SandboxUser,
}

impl std::fmt::Debug for OAuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClient")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("user", &self.user.id)
            .finish()
    }
}
