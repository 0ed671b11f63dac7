//! `login`, `logout` and `whoami`.

use std::time::{SystemTime, UNIX_EPOCH};

use aignostics::auth::{Login, TokenInfo};
use serde_json::json;

use crate::args::LoginArgs;
use crate::context::{ACCESS_TOKEN_VAR, Ctx, Report, Result, access_token, note};
use crate::table::fields;

pub fn login(ctx: &Ctx, args: &LoginArgs) -> Result<Report> {
    if access_token().is_some() {
        note!("note: {ACCESS_TOKEN_VAR} is set; commands send it instead of the stored login");
    }
    let settings = ctx.settings()?;
    let mut login = Login::new(&settings);
    if args.force {
        login = login.force();
    }
    if args.device {
        login = login.device_flow();
    }
    let info = login.run()?;
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

pub fn whoami(ctx: &Ctx) -> Result<Report> {
    let me = ctx.client()?.me()?;
    let (user, org) = (&me.user, &me.organization);
    if ctx.json {
        // The organization's storage keys and service tokens are secrets: left out.
        return Report::json(&json!({
            "user": user,
            "organization": {
                "id": org.id,
                "name": org.name,
                "display_name": org.display_name,
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
    Ok(Report::text(fields(rows)))
}

fn token_json(info: &TokenInfo) -> serde_json::Value {
    json!({
        "subject": info.subject,
        "organization_id": info.organization_id,
        "role": info.role,
        "scope": info.scope,
        "expires_at": rfc3339(info.expires_at),
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
            rfc3339(info.expires_at),
            info.remaining().as_secs() / 60
        ),
    ));
    fields(rows)
}

/// `2025-06-01T12:00:00Z` (UTC, whole seconds).
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Year, month and day of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // Proves timestamps format as UTC RFC 3339, across a leap day and the epoch.
    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(rfc3339(leap), "2024-02-29T12:34:56Z");
        let later = UNIX_EPOCH + Duration::from_secs(4_102_444_799);
        assert_eq!(rfc3339(later), "2099-12-31T23:59:59Z");
    }
}
