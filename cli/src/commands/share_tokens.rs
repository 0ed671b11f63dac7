//! `share-tokens create|list|revoke`.

use aignostics::models::SubjectType;
use serde_json::json;

use crate::args::ShareTokensCommand;
use crate::context::{Ctx, Failure, Report, Result, note};
use crate::table::{Table, fields};

pub fn share_tokens(ctx: &Ctx, command: &ShareTokensCommand) -> Result<Report> {
    let client = ctx.client()?;
    match command {
        ShareTokensCommand::Create { expires_at, run } => {
            // The run is checked before the token exists: a token whose grant then fails would
            // be an active secret nobody was ever shown.
            if let Some(run) = run {
                client.run(run).details().map_err(|e| {
                    if e.is_not_found() {
                        let hint = format!(
                            "no share token was created; `aignostics runs list` lists the runs \
                             you can share (no run {run} is visible to you)"
                        );
                        Failure::hinted(e, hint)
                    } else {
                        e.into()
                    }
                })?;
            }
            let token = client.share_tokens().create(expires_at.clone())?;
            let grant = match run {
                Some(run) => {
                    match client
                        .run(run)
                        .grant_access(SubjectType::ShareToken, &token.share_token_id)
                    {
                        Ok(grant) => Some(grant),
                        Err(e) => {
                            let id = &token.share_token_id;
                            let hint = match client.share_tokens().revoke(id) {
                                Ok(_) => format!("the new share token {id} was revoked again"),
                                Err(_) => format!(
                                    "the new share token {id} could not be revoked: revoke it \
                                     with `aignostics share-tokens revoke {id}`"
                                ),
                            };
                            return Err(Failure::hinted(e, hint));
                        }
                    }
                }
                None => None,
            };
            note!("The secret is shown only this once; keep it like a password.");
            if ctx.json {
                let mut value = serde_json::to_value(&token)
                    .map_err(|e| Failure::Runtime(format!("could not encode the token: {e}")))?;
                value["grant"] = json!(grant);
                return Report::json(&value);
            }
            let mut rows = vec![
                ("Share token id", token.share_token_id.clone()),
                ("Secret", token.share_token.clone()),
                ("Created", token.created_at.clone()),
                (
                    "Expires",
                    token.expires_at.clone().unwrap_or_else(|| "never".into()),
                ),
            ];
            if let Some(grant) = &grant {
                rows.push(("Can read run", grant.resource_id.clone()));
            }
            Ok(Report::text(fields(rows)))
        }
        ShareTokensCommand::List { run, all } => {
            let mut list = client.share_tokens().list().page_size(100);
            if let Some(run) = run {
                list = list.run_id(run);
            }
            if !all {
                list = list.revoked(false);
            }
            let tokens = list.iter().collect::<aignostics::Result<Vec<_>>>()?;
            if ctx.json {
                return Report::json(&tokens);
            }
            let mut table = Table::new(["ID", "CREATED", "EXPIRES", "REVOKED"]);
            for token in &tokens {
                table.row([
                    token.share_token_id.clone(),
                    token.created_at.clone(),
                    token.expires_at.clone().unwrap_or_else(|| "never".into()),
                    if token.revoked { "yes" } else { "no" }.to_string(),
                ]);
            }
            if table.is_empty() {
                note!("No share tokens.");
                return Ok(Report::default());
            }
            Ok(Report::text(table.render()))
        }
        ShareTokensCommand::Revoke { id } => {
            let token = client.share_tokens().revoke(id).map_err(|e| {
                if e.is_conflict() {
                    Failure::hinted(e, format!("share token {id} is already revoked"))
                } else {
                    e.into()
                }
            })?;
            if ctx.json {
                return Report::json(&token);
            }
            Ok(Report::text(format!("Revoked share token {id}.\n")))
        }
    }
}
