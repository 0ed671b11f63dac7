//! `applications list|show`, `versions list|show` and `documents list|show|download`.

use crate::args::{ApplicationsCommand, DocumentsCommand, VersionsCommand};
use crate::context::{Ctx, Failure, Report, Result};
use crate::shared::{unknown_application, unknown_version};
use crate::table::{Table, fields};

pub fn applications(ctx: &Ctx, command: &ApplicationsCommand) -> Result<Report> {
    let client = ctx.client()?;
    match command {
        ApplicationsCommand::List { sort } => {
            let mut list = client.applications().list();
            for field in sort {
                list = list.sort(field);
            }
            let apps = list.iter().collect::<aignostics::Result<Vec<_>>>()?;
            if ctx.json {
                return Report::json(&apps);
            }
            let mut table = Table::new(["APPLICATION", "NAME", "LATEST", "CLASSES"]);
            for app in &apps {
                table.row([
                    app.application_id.clone(),
                    app.name.clone(),
                    app.latest_version
                        .as_ref()
                        .map(|v| v.number.clone())
                        .unwrap_or_else(|| "-".into()),
                    app.regulatory_classes.join(", "),
                ]);
            }
            Ok(Report::text(table.render()))
        }
        ApplicationsCommand::Show { application } => {
            let app = client
                .applications()
                .details(application)
                .map_err(|e| unknown_application(&client, application, e))?;
            if ctx.json {
                return Report::json(&app);
            }
            let mut out = fields([
                ("Application", app.application_id.clone()),
                ("Name", app.name.clone()),
                ("Classes", app.regulatory_classes.join(", ")),
                ("Description", app.description.clone()),
            ]);
            out.push('\n');
            out.push_str(&version_table(
                client
                    .versions()
                    .list_sorted(application)
                    .map_err(|e| unknown_application(&client, application, e))?,
            ));
            Ok(Report::text(out))
        }
    }
}

pub fn versions(ctx: &Ctx, command: &VersionsCommand) -> Result<Report> {
    let client = ctx.client()?;
    match command {
        VersionsCommand::List { application } => {
            let versions = client
                .versions()
                .list_sorted(application)
                .map_err(|e| unknown_application(&client, application, e))?;
            if ctx.json {
                return Report::json(&versions);
            }
            Ok(Report::text(version_table(versions)))
        }
        VersionsCommand::Show {
            application,
            version,
        } => {
            let details = client
                .versions()
                .details(application, version.as_deref())
                .map_err(|e| unknown_version(&client, application, version.as_deref(), e))?;
            if ctx.json {
                return Report::json(&details);
            }
            let mut out = fields([
                ("Application", application.clone()),
                ("Version", details.version_number.clone()),
                ("Released", details.released_at.clone()),
                ("Changelog", details.changelog.trim().to_string()),
            ]);
            out.push_str("\nInput artifacts (one of each per item):\n");
            let mut inputs = Table::new(["NAME", "MIME TYPE"]);
            for input in &details.input_artifacts {
                inputs.row([input.name.clone(), input.mime_type.clone()]);
            }
            out.push_str(&inputs.render());
            for input in &details.input_artifacts {
                out.push_str(&format!("\nMetadata of each {}:\n", input.name));
                let mut table = Table::new(["FIELD", "TYPE", "REQUIRED", "ALLOWED"]);
                for field in aignostics::slides::metadata_fields(&input.metadata_schema) {
                    let allowed = match (field.allowed.is_empty(), field.range.is_empty()) {
                        (false, _) => field.allowed.join(", "),
                        (true, false) => field.range,
                        (true, true) => String::new(),
                    };
                    let required = if field.required { "yes" } else { "no" };
                    table.row([field.path, field.kind, required.into(), allowed]);
                }
                out.push_str(&table.render());
            }
            out.push_str("\nOutput artifacts:\n");
            let mut outputs = Table::new(["NAME", "MIME TYPE", "SCOPE", "VISIBILITY"]);
            for output in &details.output_artifacts {
                outputs.row([
                    output.name.clone(),
                    output.mime_type.clone(),
                    output.scope.to_string(),
                    output.visibility.to_string(),
                ]);
            }
            out.push_str(&outputs.render());
            Ok(Report::text(out))
        }
    }
}

pub fn documents(ctx: &Ctx, command: &DocumentsCommand) -> Result<Report> {
    let client = ctx.client()?;
    let (application, version) = match command {
        DocumentsCommand::List {
            application,
            version,
        }
        | DocumentsCommand::Show {
            application,
            version,
            ..
        }
        | DocumentsCommand::Download {
            application,
            version,
            ..
        } => (application, version.version.as_deref()),
    };
    let docs = client.versions().documents(application, version);
    let not_found = |e: aignostics::Error| unknown_version(&client, application, version, e);
    match command {
        DocumentsCommand::List { .. } => {
            let list = docs.list().map_err(not_found)?;
            if ctx.json {
                return Report::json(&list);
            }
            if list.is_empty() {
                crate::context::note!("No documents.");
                return Ok(Report::default());
            }
            let mut table = Table::new(["NAME", "MIME TYPE", "VISIBILITY", "UPDATED"]);
            for doc in &list {
                table.row([
                    doc.name.clone(),
                    doc.mime_type.clone(),
                    doc.visibility.to_string(),
                    doc.updated_at.clone(),
                ]);
            }
            Ok(Report::text(table.render()))
        }
        DocumentsCommand::Show { name, .. } => {
            let doc = docs
                .details(name)
                .map_err(|e| unknown_document(e, application))?;
            if ctx.json {
                return Report::json(&doc);
            }
            Ok(Report::text(fields([
                ("Document", doc.name.clone()),
                ("Id", doc.id.clone()),
                ("MIME type", doc.mime_type.clone()),
                ("Visibility", doc.visibility.to_string()),
                ("Created", doc.created_at.clone()),
                ("Updated", doc.updated_at.clone()),
            ])))
        }
        DocumentsCommand::Download { name, dir, .. } => {
            let path = docs
                .download_to(name, dir)
                .map_err(|e| unknown_document(e, application))?;
            if ctx.json {
                #[derive(serde::Serialize)]
                struct Saved<'a> {
                    path: &'a std::path::Path,
                }
                return Report::json(&Saved { path: &path });
            }
            Ok(Report::text(format!("{}\n", path.display())))
        }
    }
}

/// A missing document: where to find the names.
fn unknown_document(err: aignostics::Error, application: &str) -> Failure {
    if err.is_not_found() {
        Failure::hinted(
            err,
            format!("`aignostics documents list {application}` lists the document names"),
        )
    } else {
        err.into()
    }
}

fn version_table(versions: Vec<aignostics::models::ApplicationVersion>) -> String {
    let mut table = Table::new(["VERSION", "RELEASED"]);
    for v in versions {
        table.row([v.number, v.released_at]);
    }
    table.render()
}
