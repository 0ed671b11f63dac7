//! Access control: [`Grants`] (who may see what) and [`ShareTokens`] (secrets that stand in
//! for a user when reading a shared run).

use std::sync::Arc;

use crate::client::Client;
use crate::error::Result;
use crate::handlers::list::list;
use crate::models::{
    GrantCreateRequest, GrantReadResponse, GrantRelation, ResourceType, ShareTokenCreateRequest,
    ShareTokenCreateResponse, ShareTokenReadResponse, SubjectType,
};
use crate::transport::Op;

/// The grants handler; see [`Client::grants`].
///
/// Reads are cached for the run TTL (15 s); creating and revoking are never retried and clear
/// this user's cached reads.
///
/// ```no_run
/// use aignostics::models::{GrantCreateRequest, GrantRelation, ResourceType, SubjectType};
/// # let client = aignostics::Client::new()?;
/// let grant = client.grants().create(
///     GrantCreateRequest::new(
///         ResourceType::Run,
///         "3fa85f64-5717-4562-b3fc-2c963f66afa6",
///         SubjectType::OrganizationUser,
///         GrantRelation::Viewer,
///     )
///     .subject_id("org_123456"),
/// )?;
/// client.grants().revoke(&grant.grant_id)?;
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Grants {
    client: Client,
}

#[cfg_attr(feature = "async", aignostics_macros::twin)]
impl Grants {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Creates a grant (`POST /v1/access/grants`). The platform only creates `viewer` grants.
    ///
    /// ```no_run
    /// # use aignostics::models::*;
    /// # let client = aignostics::Client::new()?;
    /// let request = GrantCreateRequest::new(ResourceType::Run, "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    ///     SubjectType::ShareToken, GrantRelation::Viewer).subject_id("9b2f…");
    /// let grant = client.grants().create(request)?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn create(&self, request: GrantCreateRequest) -> Result<GrantReadResponse> {
        self.client
            .mutate_json(Op::CreateGrant.at(&[]).json(&request)?)
    }

    /// Lists grants (`GET /v1/access/grants`) with optional filters; see [`ListGrants`].
    pub fn list(&self) -> ListGrants {
        ListGrants::new(self.client.clone())
    }

    /// One grant (`GET /v1/access/grants/{id}`; cached 15 s, shared with the cache).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let grant = client.grants().get("0f6d1b9e-2c1e-4f55-8f3e-6e9b6d3f2a10")?;
    /// println!("{} {} on {}", grant.subject_type, grant.relation, grant.resource_id);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn get(&self, grant_id: &str) -> Result<Arc<GrantReadResponse>> {
        self.client.read_shared(Op::GetGrant.at(&[grant_id]))
    }

    /// Revokes a grant (`DELETE /v1/access/grants/{id}`) and returns it as revoked. Revoking
    /// twice is a 409 error ([`Error::is_conflict`](crate::Error::is_conflict)).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let revoked = client.grants().revoke("0f6d1b9e-2c1e-4f55-8f3e-6e9b6d3f2a10")?;
    /// assert!(revoked.revoked);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn revoke(&self, grant_id: &str) -> Result<GrantReadResponse> {
        self.client.mutate_json(Op::RevokeGrant.at(&[grant_id]))
    }
}

list! {
    /// Lists grants (`GET /v1/access/grants`); see [`Grants::list`] and
    /// [`Run::share_grants`](crate::Run::share_grants). Each page is cached for the run TTL (15 s).
    ///
    /// ```no_run
    /// use aignostics::models::{ResourceType, SubjectType};
    /// # let client = aignostics::Client::new()?;
    /// for grant in client
    ///     .grants()
    ///     .list()
    ///     .resource_type(ResourceType::Run)
    ///     .subject_type(SubjectType::ShareToken)
    ///     .revoked(false)
    ///     .iter()
    /// {
    ///     println!("{}", grant?.grant_id);
    /// }
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    ListGrants(Client, Op::ListGrants) => GrantReadResponse, "matching grant" {
        /// Only grants on this kind of resource.
        resource_type: one ResourceType,
        /// Only grants on this resource (a UUID).
        resource_id: one String,
        /// Only grants held by this kind of subject.
        subject_type: one SubjectType,
        /// Only grants held by this subject.
        subject_id: one String,
        /// Only grants of this relation; call again to accept several.
        relation: each GrantRelation,
        /// Only revoked (`true`) or only active (`false`) grants.
        revoked: one bool,
        /// Sorts by a field (prefix `-` for descending); call again for more keys.
        sort: each String,
    }
}

/// The share-tokens handler; see [`Client::share_tokens`].
///
/// A share token is a secret that lets whoever holds it read a run it was granted on (see
/// [`Run::grant_access`](crate::Run::grant_access) and
/// [`Run::with_share_token`](crate::Run::with_share_token)). The secret is returned once, by
/// [`create`](Self::create). Reads are cached for the run TTL (15 s); creating and revoking are
/// never retried and clear this user's cached reads.
///
/// ```no_run
/// use aignostics::models::SubjectType;
/// # let client = aignostics::Client::new()?;
/// let token = client.share_tokens().create(None)?;
/// let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
/// run.grant_access(SubjectType::ShareToken, &token.share_token_id)?;
/// // Hand `token.share_token` to the reader, who calls:
/// // client.run(run_id).with_share_token(secret).details()
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ShareTokens {
    client: Client,
}

#[cfg_attr(feature = "async", aignostics_macros::twin)]
impl ShareTokens {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Creates a share token (`POST /v1/access/share-tokens`), expiring at `expires_at` (an
    /// RFC 3339 timestamp such as `2026-12-31T23:59:59Z`, or a date, `2026-12-31`, meaning
    /// midnight UTC) or never. The response holds the secret; it is not returned again.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let token = client.share_tokens().create(Some("2026-12-31T23:59:59Z".to_string()))?;
    /// println!("created {}", token.share_token_id);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) before any request when
    /// `expires_at` is neither (`2026-02-31`, `T99:99:99`, an offset of `+99:99`).
    pub fn create(&self, expires_at: Option<String>) -> Result<ShareTokenCreateResponse> {
        if let Some(text) = expires_at
            .as_deref()
            .filter(|t| crate::time::parse_date_time(t).is_none())
        {
            return Err(crate::Error::InvalidInput(format!(
                "expires_at {text:?} is neither an RFC 3339 timestamp \
                 (2026-12-31T23:59:59Z) nor a date (2026-12-31)"
            )));
        }
        let body = ShareTokenCreateRequest { expires_at };
        self.client
            .mutate_json(Op::CreateShareToken.at(&[]).json(&body)?)
    }

    /// Lists share tokens (`GET /v1/access/share-tokens`) with optional filters; see
    /// [`ListShareTokens`].
    pub fn list(&self) -> ListShareTokens {
        ListShareTokens::new(self.client.clone())
    }

    /// One share token, without its secret (`GET /v1/access/share-tokens/{id}`; cached 15 s,
    /// shared with the cache).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let token = client.share_tokens().get("9b2f3c4d-1a2b-4c3d-8e9f-0a1b2c3d4e5f")?;
    /// println!("revoked: {}", token.revoked);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn get(&self, share_token_id: &str) -> Result<Arc<ShareTokenReadResponse>> {
        self.client
            .read_shared(Op::GetShareToken.at(&[share_token_id]))
    }

    /// Revokes a share token (`DELETE /v1/access/share-tokens/{id}`) and returns it as
    /// revoked. Revoking twice is a 409 error ([`Error::is_conflict`](crate::Error::is_conflict)).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// client.share_tokens().revoke("9b2f3c4d-1a2b-4c3d-8e9f-0a1b2c3d4e5f")?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn revoke(&self, share_token_id: &str) -> Result<ShareTokenReadResponse> {
        self.client
            .mutate_json(Op::RevokeShareToken.at(&[share_token_id]))
    }
}

list! {
    /// Lists share tokens (`GET /v1/access/share-tokens`); see [`ShareTokens::list`]. Each page is
    /// cached for the run TTL (15 s).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let active = client
    ///     .share_tokens()
    ///     .list()
    ///     .run_id("3fa85f64-5717-4562-b3fc-2c963f66afa6")
    ///     .revoked(false)
    ///     .iter()
    ///     .collect::<aignostics::Result<Vec<_>>>()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    ListShareTokens(Client, Op::ListShareTokens) => ShareTokenReadResponse, "matching token" {
        /// Only tokens granted on this run.
        run_id: one String,
        /// Only tokens created by this user.
        created_by: one String,
        /// Only revoked (`true`) or only active (`false`) tokens.
        revoked: one bool,
        /// Sorts by a field (prefix `-` for descending); call again for more keys.
        sort: each String,
    }
}
