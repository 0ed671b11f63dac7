//! Request routing, and the catalog and `/v1/me` endpoints.

use serde_json::Value;

use super::catalog::{Catalog, CatalogApplication, CatalogVersion};
use super::http::{Answer, Req, Resp, page_of, paging, sort_rows};
use super::ids::derived_uuid;
use super::state::Shared;
use super::users::SandboxUser;
use super::{access, oauth, runs, storage};
use aignostics::models::{
    ApplicationReadResponse, ApplicationReadShortResponse, ApplicationVersion, MeReadResponse,
    OrganizationReadResponse, UserReadResponse, VersionDocumentResponse, VersionDocumentVisibility,
    VersionReadResponse,
};

/// The semantic-version pattern of the version path parameter (as in the OpenAPI file).
const SEMVER_PATTERN: &str = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$";

/// One API operation with its path arguments.
#[derive(Debug, Clone, Copy)]
enum Route<'a> {
    ListApplications,
    GetApplication(&'a str),
    GetVersion(&'a str, &'a str),
    ListDocuments(&'a str, &'a str),
    GetDocument(&'a str, &'a str, &'a str),
    DocumentFile(&'a str, &'a str, &'a str, bool),
    ListRuns,
    CreateRun,
    GetRun(&'a str),
    CancelRun(&'a str),
    ListItems(&'a str),
    GetItem(&'a str, &'a str),
    PutRunMetadata(&'a str),
    PutItemMetadata(&'a str, &'a str),
    ArtifactFile(&'a str, &'a str),
    DeleteArtifacts(&'a str),
    Me,
    CreateGrant,
    ListGrants,
    GetGrant(&'a str),
    RevokeGrant(&'a str),
    CreateShareToken,
    ListShareTokens,
    GetShareToken(&'a str),
    RevokeShareToken(&'a str),
}

fn resolve<'a>(method: &str, rest: &[&'a str]) -> Option<Route<'a>> {
    use Route as R;
    Some(match (method, rest) {
        ("GET", ["applications"]) => R::ListApplications,
        ("GET", ["applications", a]) => R::GetApplication(a),
        ("GET", ["applications", a, "versions", v]) => R::GetVersion(a, v),
        ("GET", ["applications", a, "versions", v, "documents"]) => R::ListDocuments(a, v),
        ("GET", ["applications", a, "versions", v, "documents", n]) => R::GetDocument(a, v, n),
        ("GET", ["applications", a, "versions", v, "documents", n, "file"]) => {
            R::DocumentFile(a, v, n, true)
        }
        ("GET", ["applications", a, "versions", v, "documents", n, "content"]) => {
            R::DocumentFile(a, v, n, false)
        }
        ("GET", ["runs"]) => R::ListRuns,
        ("POST", ["runs"]) => R::CreateRun,
        ("GET", ["runs", r]) => R::GetRun(r),
        ("POST", ["runs", r, "cancel"]) => R::CancelRun(r),
        ("GET", ["runs", r, "items"]) => R::ListItems(r),
        ("GET", ["runs", r, "items", e]) => R::GetItem(r, e),
        ("PUT", ["runs", r, "custom-metadata"]) => R::PutRunMetadata(r),
        ("PUT", ["runs", r, "items", e, "custom-metadata"]) => R::PutItemMetadata(r, e),
        ("GET", ["runs", r, "artifacts", a, "file"]) => R::ArtifactFile(r, a),
        ("DELETE", ["runs", r, "artifacts"]) => R::DeleteArtifacts(r),
        ("GET", ["me"]) => R::Me,
        ("POST", ["access", "grants"]) => R::CreateGrant,
        ("GET", ["access", "grants"]) => R::ListGrants,
        ("GET", ["access", "grants", g]) => R::GetGrant(g),
        ("DELETE", ["access", "grants", g]) => R::RevokeGrant(g),
        ("POST", ["access", "share-tokens"]) => R::CreateShareToken,
        ("GET", ["access", "share-tokens"]) => R::ListShareTokens,
        ("GET", ["access", "share-tokens", t]) => R::GetShareToken(t),
        ("DELETE", ["access", "share-tokens", t]) => R::RevokeShareToken(t),
        _ => return None,
    })
}

/// Answers one request (after fault injection).
pub(crate) fn handle(shared: &Shared, req: &Req) -> Resp {
    let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let answer = match segments.as_slice() {
        ["storage", ..] => storage::serve(shared, req),
        [super::bucket::S3_PATH, ..] => Ok(super::bucket::serve(&shared.bucket, req)),
        ["oauth", "token"] if req.method == "POST" => oauth::token(shared, req),
        ["oauth", "token"] => Err(method_not_allowed()),
        ["api", "v1", "health"] => Ok(super::health::serve(shared, req)),
        ["oauth", "device", "code"] if req.method == "POST" => oauth::device_code(shared, req),
        ["activate"] if req.method == "GET" => oauth::activate(shared, req),
        [".well-known", "jwks.json"] if req.method == "GET" => Ok(oauth::jwks()),
        ["api", "v1", rest @ ..] => api(shared, req, rest),
        _ => Err(Resp::detail(404, "Not Found")),
    };
    answer.unwrap_or_else(|e| e)
}

fn method_not_allowed() -> Resp {
    Resp::detail(405, "Method Not Allowed")
}

fn api(shared: &Shared, req: &Req, rest: &[&str]) -> Answer {
    // FastAPI redirects a trailing slash to the route without it.
    if rest.len() > 1 && rest.last() == Some(&"") {
        let mut location = format!("{}{}", shared.base_url, req.path.trim_end_matches('/'));
        if !req.raw_query.is_empty() {
            location.push('?');
            location.push_str(&req.raw_query);
        }
        return Ok(Resp::redirect(location));
    }
    let Some(route) = resolve(&req.method, rest) else {
        let other_method = ["GET", "POST", "PUT", "DELETE"]
            .iter()
            .any(|m| resolve(m, rest).is_some());
        return Err(if other_method {
            method_not_allowed()
        } else {
            Resp::detail(404, "Not Found")
        });
    };
    let user = shared.authenticate(req)?;
    use Route as R;
    match route {
        R::ListApplications => list_applications(shared, req),
        R::GetApplication(a) => get_application(shared, a),
        R::GetVersion(a, v) => get_version(shared, a, v),
        R::ListDocuments(a, v) => list_documents(shared, a, v),
        R::GetDocument(a, v, n) => get_document(shared, a, v, n),
        R::DocumentFile(a, v, n, attachment) => document_file(shared, a, v, n, attachment),
        R::ListRuns => runs::list(shared, req, &user),
        R::CreateRun => runs::create(shared, req, &user),
        R::GetRun(r) => runs::get(shared, req, &user, r),
        R::CancelRun(r) => runs::cancel(shared, &user, r),
        R::ListItems(r) => runs::list_items(shared, req, &user, r),
        R::GetItem(r, e) => runs::get_item(shared, req, &user, r, e),
        R::PutRunMetadata(r) => runs::put_metadata(shared, req, &user, r, None),
        R::PutItemMetadata(r, e) => runs::put_metadata(shared, req, &user, r, Some(e)),
        R::ArtifactFile(r, a) => runs::artifact_file(shared, req, &user, r, a),
        R::DeleteArtifacts(r) => runs::delete_artifacts(shared, &user, r),
        R::Me => Ok(Resp::json(200, &me(&user))),
        R::CreateGrant => access::create_grant(shared, req, &user),
        R::ListGrants => access::list_grants(shared, req, &user),
        R::GetGrant(g) => access::get_grant(shared, &user, g),
        R::RevokeGrant(g) => access::revoke_grant(shared, &user, g),
        R::CreateShareToken => access::create_share_token(shared, req, &user),
        R::ListShareTokens => access::list_share_tokens(shared, req, &user),
        R::GetShareToken(t) => access::get_share_token(shared, &user, t),
        R::RevokeShareToken(t) => access::revoke_share_token(shared, &user, t),
    }
}

fn me(user: &SandboxUser) -> MeReadResponse {
    let short = user
        .id
        .split('|')
        .next_back()
        .unwrap_or(&user.id)
        .to_string();
    MeReadResponse {
        user: UserReadResponse {
            id: user.id.clone(),
            email: Some(user.email.clone()),
            email_verified: Some(true),
            name: Some(short.clone()),
            given_name: Some(short.clone()),
            family_name: Some("Sandbox".into()),
            nickname: Some(short),
            picture: None,
            updated_at: Some("2025-01-01T00:00:00.000Z".into()),
        },
        organization: OrganizationReadResponse {
            id: user.organization_id.clone(),
            name: Some(user.organization_name.clone()),
            display_name: Some(user.organization_name.clone()),
            aignostics_bucket_hmac_access_key_id: super::BUCKET_KEY_ID.into(),
            aignostics_bucket_hmac_secret_access_key: super::BUCKET_SECRET.into(),
            aignostics_bucket_name: super::BUCKET_NAME.into(),
            // An S3-compatible store at `Sandbox::bucket_endpoint` (with the `bucket` feature).
            aignostics_bucket_protocol: "s3".into(),
            aignostics_logfire_token: "sandbox-logfire-token".into(),
            aignostics_sentry_dsn: "https://sandbox@sentry.invalid/1".into(),
        },
    }
}

fn version_summary(v: &CatalogVersion) -> ApplicationVersion {
    ApplicationVersion {
        number: v.number.clone(),
        released_at: v.released_at.clone(),
    }
}

fn application_of<'a>(catalog: &'a Catalog, id: &str) -> Result<&'a CatalogApplication, Resp> {
    catalog
        .application(id)
        .ok_or_else(|| Resp::detail(404, "Application not found"))
}

fn version_of<'a>(
    catalog: &'a Catalog,
    application_id: &str,
    version: &str,
) -> Result<&'a CatalogVersion, Resp> {
    catalog
        .application(application_id)
        .and_then(|a| a.find_version(version))
        .ok_or_else(|| Resp::detail(404, "Application version not found"))
}

fn list_applications(shared: &Shared, req: &Req) -> Answer {
    let paging = paging(req, "page-size")?;
    let mut rows: Vec<(Value, ApplicationReadShortResponse)> = shared
        .catalog()
        .applications()
        .iter()
        .map(|a| {
            let short = ApplicationReadShortResponse {
                application_id: a.application_id.clone(),
                name: a.name.clone(),
                regulatory_classes: a.regulatory_classes.clone(),
                description: a.description.clone(),
                latest_version: a.latest().map(version_summary),
            };
            (serde_json::to_value(&short).unwrap_or_default(), short)
        })
        .collect();
    sort_rows(
        &mut rows,
        &req.query_all("sort"),
        &[
            "application_id",
            "name",
            "description",
            "regulatory_classes",
        ],
    )?;
    let page = page_of(rows.into_iter().map(|(_, a)| a).collect(), paging);
    Ok(Resp::json(200, &page))
}

fn get_application(shared: &Shared, application_id: &str) -> Answer {
    let catalog = shared.catalog();
    let a = application_of(&catalog, application_id)?;
    Ok(Resp::json(
        200,
        &ApplicationReadResponse {
            application_id: a.application_id.clone(),
            name: a.name.clone(),
            regulatory_classes: a.regulatory_classes.clone(),
            description: a.description.clone(),
            versions: a.versions.iter().map(version_summary).collect(),
        },
    ))
}

fn get_version(shared: &Shared, application_id: &str, version: &str) -> Answer {
    if semver::Version::parse(version).is_err() {
        return Err(Resp::invalid(
            &["path", "version"],
            "string_pattern_mismatch",
            format!("String should match pattern '{SEMVER_PATTERN}'"),
            Some(Value::String(version.into())),
            Some(serde_json::json!({ "pattern": SEMVER_PATTERN })),
        ));
    }
    let catalog = shared.catalog();
    application_of(&catalog, application_id)?;
    let v = version_of(&catalog, application_id, version)?;
    Ok(Resp::json(
        200,
        &VersionReadResponse {
            version_number: v.number.clone(),
            changelog: v.changelog.clone(),
            input_artifacts: v.input_artifacts.clone(),
            output_artifacts: v.output_artifacts.clone(),
            released_at: v.released_at.clone(),
        },
    ))
}

fn document_view(
    application_id: &str,
    v: &CatalogVersion,
    name: &str,
) -> Option<VersionDocumentResponse> {
    v.documents
        .iter()
        .find(|d| d.name == name && d.visibility == VersionDocumentVisibility::Public)
        .map(|d| VersionDocumentResponse {
            id: derived_uuid(&[application_id, &v.number, &d.name]),
            name: d.name.clone(),
            mime_type: d.mime_type.clone(),
            visibility: d.visibility.clone(),
            created_at: v.released_at.clone(),
            updated_at: v.released_at.clone(),
        })
}

fn not_accessible_version(
    shared: &Shared,
    application_id: &str,
    version: &str,
) -> Result<(), Resp> {
    version_of(&shared.catalog(), application_id, version)
        .map(drop)
        .map_err(|_| Resp::detail(404, "Application version not found or not accessible"))
}

fn list_documents(shared: &Shared, application_id: &str, version: &str) -> Answer {
    not_accessible_version(shared, application_id, version)?;
    let catalog = shared.catalog();
    let v = version_of(&catalog, application_id, version)?;
    let docs: Vec<VersionDocumentResponse> = v
        .documents
        .iter()
        .filter_map(|d| document_view(application_id, v, &d.name))
        .collect();
    Ok(Resp::json(200, &docs))
}

fn find_document(
    shared: &Shared,
    application_id: &str,
    version: &str,
    name: &str,
) -> Result<VersionDocumentResponse, Resp> {
    not_accessible_version(shared, application_id, version)?;
    let catalog = shared.catalog();
    let v = version_of(&catalog, application_id, version)?;
    document_view(application_id, v, name).ok_or_else(|| {
        Resp::detail(
            404,
            "Document not found, not public, or version not accessible",
        )
    })
}

fn get_document(shared: &Shared, application_id: &str, version: &str, name: &str) -> Answer {
    let doc = find_document(shared, application_id, version, name)?;
    Ok(Resp::json(200, &doc))
}

fn document_file(
    shared: &Shared,
    application_id: &str,
    version: &str,
    name: &str,
    attachment: bool,
) -> Answer {
    find_document(shared, application_id, version, name)?;
    let key = storage::document_key(application_id, version, name);
    let disposition = attachment.then(|| format!("attachment; filename=\"{name}\""));
    Ok(
        Resp::redirect(storage::signed_url(shared, &key, disposition.as_deref()))
            .header("Cache-Control", "no-store"),
    )
}
