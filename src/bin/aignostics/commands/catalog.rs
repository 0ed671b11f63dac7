//! `applications list|show` and `versions list|show`.

use crate::args::{ApplicationsCommand, VersionsCommand};
use crate::context::{Ctx, Report, Result};
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
            let app = client.applications().details(application)?;
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
            out.push_str(&version_table(client.versions().list_sorted(application)?));
            Ok(Report::text(out))
        }
    }
}

pub fn versions(ctx: &Ctx, command: &VersionsCommand) -> Result<Report> {
    let client = ctx.client()?;
    match command {
        VersionsCommand::List { application } => {
            let versions = client.versions().list_sorted(application)?;
            if ctx.json {
                return Report::json(&versions);
            }
            Ok(Report::text(version_table(versions)))
        }
        VersionsCommand::Show {
            application,
            version,
        } => {
            let details = client.versions().details(application, version.as_deref())?;
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
            let mut inputs = Table::new(["NAME", "MIME TYPE", "REQUIRED METADATA"]);
            for input in &details.input_artifacts {
                let required = input.metadata_schema["required"]
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .filter_map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                inputs.row([input.name.clone(), input.mime_type.clone(), required]);
            }
            out.push_str(&inputs.render());
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

fn version_table(versions: Vec<aignostics::models::ApplicationVersion>) -> String {
    let mut table = Table::new(["VERSION", "RELEASED"]);
    for v in versions {
        table.row([v.number, v.released_at]);
    }
    table.render()
}
