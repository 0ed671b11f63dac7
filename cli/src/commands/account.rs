//! `login`, `logout` and `whoami`.

use aignostics::auth::{Login, TokenInfo};
use serde_json::json;

use crate::args::{LoginArgs, WhoamiArgs};
use crate::context::{ACCESS_TOKEN_VAR, Ctx, Failure, Report, Result, access_token_set, note};
use crate::hints::DEVICE_FLOW;
use crate::table::fields;

pub fn login(ctx: &Ctx, args: &LoginArgs) -> Result<Report> {
    let settings = ctx.settings()?;
    if args.device
        && settings
            .auth
            .as_ref()
            .is_some_and(|a| a.client_id_device.is_none() && a.refresh_token.is_none())
    {
        return Err(Failure::Runtime(format!(
            "cannot log in with --device: {DEVICE_FLOW}"
        )));
    }
    let mut login = Login::new(&settings);
    if args.force {
        login = login.force();
    }
    if args.device {
        login = login.device_flow();
    }
    // Login hints only: the generic ones speak of the token other commands send.
    let info = login.run().map_err(|e| match &e {
        aignostics::Error::Config(m) if m.contains("not a known Aignostics environment") => {
            Failure::hinted(
                e,
                "`aignostics login` needs a known Aignostics environment, or all the \
                 AIGNOSTICS_* login settings of another one (`aignostics sandbox` prints them \
                 for the sandbox)",
            )
        }
        aignostics::Error::Config(m) if m.contains("AIGNOSTICS_CLIENT_ID_DEVICE") => {
            Failure::hinted(e, DEVICE_FLOW)
        }
        _ if e.status() == Some(401) || matches!(e, aignostics::Error::Auth(_)) => Failure::hinted(
            e,
            "run `aignostics login --force` to log in again from the start",
        ),
        _ => e.into(),
    })?;
    if access_token_set() {
        note!(
            "note: {ACCESS_TOKEN_VAR} is set, so the other commands send it, not this login; \
             unset it to use the login"
        );
    }
    if ctx.json {
        return Report::json(&token_json(&info));
    }
    note!(
        "Logged in; the token is stored in {}",
        settings.token_file().display()
    );
    Ok(Report::text(token_fields(&info)))
}

pub fn logout(ctx: &Ctx) -> Result<Report> {
    let settings = ctx.settings()?;
    let removed = aignostics::auth::logout_with(&settings)?;
    if ctx.json {
        return Report::json(&json!({ "logged_out": removed }));
    }
    Ok(Report::text(if removed {
        "Logged out.\n"
    } else {
        "Not logged in.\n"
    }))
}

pub fn whoami(ctx: &Ctx, args: &WhoamiArgs) -> Result<Report> {
    let me = ctx.client()?.me()?;
    let (user, org) = (&me.user, &me.organization);
    // The bucket's HMAC secret is shown only when asked for; service tokens never.
    let secret = &org.aignostics_bucket_hmac_secret_access_key;
    let secret = if args.show_secrets {
        secret.clone()
    } else {
        format!("***MASKED({})***", secret.chars().count())
    };
    if ctx.json {
        return Report::json(&json!({
            "user": user,
            "organization": {
                "id": org.id,
                "name": org.name,
                "display_name": org.display_name,
                "aignostics_bucket_name": org.aignostics_bucket_name,
                "aignostics_bucket_protocol": org.aignostics_bucket_protocol,
                "aignostics_bucket_hmac_access_key_id": org.aignostics_bucket_hmac_access_key_id,
                "aignostics_bucket_hmac_secret_access_key": secret,
            },
        }));
    }
    let mut rows = vec![("User", user.id.clone())];
    if let Some(name) = &user.name {
        rows.push(("Name", name.clone()));
    }
    if let Some(email) = &user.email {
        rows.push(("Email", email.clone()));
    }
    let org_name = org.display_name.as_ref().or(org.name.as_ref());
    rows.push((
        "Organization",
        match org_name {
            Some(name) if name != &org.id => format!("{name} ({})", org.id),
            _ => org.id.clone(),
        },
    ));
    rows.push((
        "Bucket",
        format!(
            "{}://{}",
            org.aignostics_bucket_protocol, org.aignostics_bucket_name
        ),
    ));
    rows.push((
        "HMAC key id",
        org.aignostics_bucket_hmac_access_key_id.clone(),
    ));
    rows.push(("HMAC secret", secret));
    Ok(Report::text(fields(rows)))
}

fn token_json(info: &TokenInfo) -> serde_json::Value {
    json!({
        "subject": info.subject,
        "organization_id": info.organization_id,
        "role": info.role,
        "scope": info.scope,
        "expires_at": info.expires_at_rfc3339(),
        "expires_in_seconds": info.remaining().as_secs(),
    })
}

fn token_fields(info: &TokenInfo) -> String {
    let mut rows = Vec::new();
    let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    rows.push(("Subject", text(&info.subject)));
    rows.push(("Organization", text(&info.organization_id)));
    if let Some(role) = &info.role {
        rows.push(("Role", role.clone()));
    }
    rows.push((
        "Expires",
        format!(
            "{} (in {} min)",
            info.expires_at_rfc3339(),
            info.remaining().as_secs() / 60
        ),
    ));
    fields(rows)
}
