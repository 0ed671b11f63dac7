//! `grants list|show|revoke`.

use aignostics::models::{GrantReadResponse, ResourceType};

use crate::args::GrantsCommand;
use crate::context::{Ctx, Failure, Report, Result, note};
use crate::table::{Table, fields};

pub fn grants(ctx: &Ctx, command: &GrantsCommand) -> Result<Report> {
    let client = ctx.client()?;
    match command {
        GrantsCommand::List { run, all } => {
            let mut list = client.grants().list().page_size(100);
            if let Some(run) = run {
                list = list.resource_type(ResourceType::Run).resource_id(run);
            }
            if !all {
                list = list.revoked(false);
            }
            let grants = list.iter().collect::<aignostics::Result<Vec<_>>>()?;
            if ctx.json {
                return Report::json(&grants);
            }
            if grants.is_empty() {
                note!("No grants.");
                return Ok(Report::default());
            }
            let mut table = Table::new(["ID", "RUN", "SUBJECT", "RELATION", "REVOKED"]);
            for g in &grants {
                table.row([
                    g.grant_id.clone(),
                    g.resource_id.clone(),
                    format!("{} {}", g.subject_type, g.subject_id),
                    g.relation.to_string(),
                    yes_no(g.revoked),
                ]);
            }
            Ok(Report::text(table.render()))
        }
        GrantsCommand::Show { id } => {
            let grant = client.grants().get(id)?;
            if ctx.json {
                return Report::json(&grant);
            }
            Ok(Report::text(grant_fields(&grant)))
        }
        GrantsCommand::Revoke { id } => {
            let grant = client.grants().revoke(id).map_err(|e| {
                if e.is_conflict() {
                    Failure::hinted(e, format!("grant {id} is already revoked"))
                } else {
                    e.into()
                }
            })?;
            if ctx.json {
                return Report::json(&grant);
            }
            Ok(Report::text(format!("Revoked grant {id}.\n")))
        }
    }
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}

fn grant_fields(g: &GrantReadResponse) -> String {
    fields([
        ("Grant", g.grant_id.clone()),
        ("Resource", format!("{} {}", g.resource_type, g.resource_id)),
        ("Subject", format!("{} {}", g.subject_type, g.subject_id)),
        ("Relation", g.relation.to_string()),
        ("Created", format!("{} by {}", g.created_at, g.created_by)),
        ("Revoked", yes_no(g.revoked)),
    ])
}
