//! Access control: [`Grants`] (who may see what) and [`ShareTokens`] (secrets that stand in
//! for a user when reading a shared run).

use crate::client::Client;
use crate::error::Result;
use crate::models::{
    GrantCreateRequest, GrantReadResponse, GrantRelation, ResourceType, ShareTokenCreateRequest,
    ShareTokenCreateResponse, ShareTokenReadResponse, SubjectType,
};
use crate::pagination::{check_page_size, impl_paged};
use crate::transport::{Op, Request, seg};

/// Default page size of grant and share-token lists.
const DEFAULT_PAGE_SIZE: u32 = 50;

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
        let req = Request::new(Op::CreateGrant, "/v1/access/grants").json(&request)?;
        self.client.api().mutate_json(req)
    }

    /// Lists grants (`GET /v1/access/grants`) with optional filters; see [`ListGrants`].
    pub fn list(&self) -> ListGrants {
        ListGrants::new(self.client.clone())
    }

    /// One grant (`GET /v1/access/grants/{id}`; cached 15 s).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let grant = client.grants().get("0f6d1b9e-2c1e-4f55-8f3e-6e9b6d3f2a10")?;
    /// println!("{} {} on {}", grant.subject_type, grant.relation, grant.resource_id);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn get(&self, grant_id: &str) -> Result<GrantReadResponse> {
        let req = Request::new(Op::GetGrant, format!("/v1/access/grants/{}", seg(grant_id)));
        self.client.api().read(req, self.client.nocache_flag())
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
        let req = Request::new(
            Op::RevokeGrant,
            format!("/v1/access/grants/{}", seg(grant_id)),
        );
        self.client.api().mutate_json(req)
    }
}

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
#[derive(Debug, Clone)]
#[must_use]
pub struct ListGrants {
    client: Client,
    resource_type: Option<ResourceType>,
    resource_id: Option<String>,
    subject_type: Option<SubjectType>,
    subject_id: Option<String>,
    relations: Vec<GrantRelation>,
    revoked: Option<bool>,
    sort: Vec<String>,
    page_size: u32,
}

impl ListGrants {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            resource_type: None,
            resource_id: None,
            subject_type: None,
            subject_id: None,
            relations: Vec::new(),
            revoked: None,
            sort: Vec::new(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// Only grants on this kind of resource.
    pub fn resource_type(mut self, resource_type: ResourceType) -> Self {
        self.resource_type = Some(resource_type);
        self
    }

    /// Only grants on this resource (a UUID).
    pub fn resource_id(mut self, resource_id: impl Into<String>) -> Self {
        self.resource_id = Some(resource_id.into());
        self
    }

    /// Only grants held by this kind of subject.
    pub fn subject_type(mut self, subject_type: SubjectType) -> Self {
        self.subject_type = Some(subject_type);
        self
    }

    /// Only grants held by this subject.
    pub fn subject_id(mut self, subject_id: impl Into<String>) -> Self {
        self.subject_id = Some(subject_id.into());
        self
    }

    /// Only grants of this relation; call again to accept several.
    pub fn relation(mut self, relation: GrantRelation) -> Self {
        self.relations.push(relation);
        self
    }

    /// Only revoked (`true`) or only active (`false`) grants.
    pub fn revoked(mut self, revoked: bool) -> Self {
        self.revoked = Some(revoked);
        self
    }

    /// Sorts by a field (prefix `-` for descending); call again for more keys.
    pub fn sort(mut self, field: impl Into<String>) -> Self {
        self.sort.push(field.into());
        self
    }

    /// Grants per page, 5 to 100 (default 50).
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// One page (from 1) of results.
    pub fn page(&self, page: u32) -> Result<Vec<GrantReadResponse>> {
        let page_size = check_page_size(self.page_size)?;
        let req = Request::new(Op::ListGrants, "/v1/access/grants")
            .query_opt("resource_type", self.resource_type.as_ref())
            .query_opt("resource_id", self.resource_id.as_deref())
            .query_opt("subject_type", self.subject_type.as_ref())
            .query_opt("subject_id", self.subject_id.as_deref())
            .query_all("relation", &self.relations)
            .query_opt("revoked", self.revoked)
            .query_all("sort", &self.sort)
            .query("page", page)
            .query("page_size", page_size);
        self.client.api().read(req, self.client.nocache_flag())
    }
}

impl_paged!(ListGrants => GrantReadResponse, "matching grant");

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

impl ShareTokens {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Creates a share token (`POST /v1/access/share-tokens`), expiring at `expires_at` (an
    /// ISO 8601 timestamp) or never. The response holds the secret; it is not returned again.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let token = client.share_tokens().create(Some("2026-12-31T23:59:59Z".to_string()))?;
    /// println!("created {}", token.share_token_id);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn create(&self, expires_at: Option<String>) -> Result<ShareTokenCreateResponse> {
        let body = ShareTokenCreateRequest { expires_at };
        let req = Request::new(Op::CreateShareToken, "/v1/access/share-tokens").json(&body)?;
        self.client.api().mutate_json(req)
    }

    /// Lists share tokens (`GET /v1/access/share-tokens`) with optional filters; see
    /// [`ListShareTokens`].
    pub fn list(&self) -> ListShareTokens {
        ListShareTokens::new(self.client.clone())
    }

    /// One share token, without its secret (`GET /v1/access/share-tokens/{id}`; cached 15 s).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let token = client.share_tokens().get("9b2f3c4d-1a2b-4c3d-8e9f-0a1b2c3d4e5f")?;
    /// println!("revoked: {}", token.revoked);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn get(&self, share_token_id: &str) -> Result<ShareTokenReadResponse> {
        let req = Request::new(
            Op::GetShareToken,
            format!("/v1/access/share-tokens/{}", seg(share_token_id)),
        );
        self.client.api().read(req, self.client.nocache_flag())
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
        let req = Request::new(
            Op::RevokeShareToken,
            format!("/v1/access/share-tokens/{}", seg(share_token_id)),
        );
        self.client.api().mutate_json(req)
    }
}

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
#[derive(Debug, Clone)]
#[must_use]
pub struct ListShareTokens {
    client: Client,
    run_id: Option<String>,
    created_by: Option<String>,
    revoked: Option<bool>,
    sort: Vec<String>,
    page_size: u32,
}

impl ListShareTokens {
    fn new(client: Client) -> Self {
        Self {
            client,
            run_id: None,
            created_by: None,
            revoked: None,
            sort: Vec::new(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// Only tokens granted on this run.
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = Some(run_id.into());
        self
    }

    /// Only tokens created by this user.
    pub fn created_by(mut self, user_id: impl Into<String>) -> Self {
        self.created_by = Some(user_id.into());
        self
    }

    /// Only revoked (`true`) or only active (`false`) tokens.
    pub fn revoked(mut self, revoked: bool) -> Self {
        self.revoked = Some(revoked);
        self
    }

    /// Sorts by a field (prefix `-` for descending); call again for more keys.
    pub fn sort(mut self, field: impl Into<String>) -> Self {
        self.sort.push(field.into());
        self
    }

    /// Tokens per page, 5 to 100 (default 50).
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// One page (from 1) of results.
    pub fn page(&self, page: u32) -> Result<Vec<ShareTokenReadResponse>> {
        let page_size = check_page_size(self.page_size)?;
        let req = Request::new(Op::ListShareTokens, "/v1/access/share-tokens")
            .query_opt("run_id", self.run_id.as_deref())
            .query_opt("created_by", self.created_by.as_deref())
            .query_opt("revoked", self.revoked)
            .query_all("sort", &self.sort)
            .query("page", page)
            .query("page_size", page_size);
        self.client.api().read(req, self.client.nocache_flag())
    }
}

impl_paged!(ListShareTokens => ShareTokenReadResponse, "matching token");
