//! `health`: is the platform reachable, and does it accept the token?

use aignostics::health::HealthStatus;

use crate::context::{Ctx, Failure, Report, Result, note};
use crate::shared::{credentials_missing, credentials_refused, down_message, reason};
use crate::table::Table;

pub fn health(ctx: &Ctx) -> Result<Report> {
    let client = ctx.client()?;
    let health = client.health();
    let report = if ctx.json {
        Report::json(&health)?
    } else {
        let mut table = Table::new(["COMPONENT", "STATUS", "REASON"]);
        for (name, component) in &health.components {
            table.row([
                name.clone(),
                component.status.to_string(),
                component.reason.clone().unwrap_or_default(),
            ]);
        }
        Report::text(table.render())
    };
    Ok(match health.status {
        HealthStatus::Down if health.credentials_refused() => {
            report.failing(credentials_refused(&health))
        }
        HealthStatus::Down if health.credentials_missing() => {
            report.failing(credentials_missing(&client, &health))
        }
        HealthStatus::Down => report.failing(Failure::Runtime(down_message(&health))),
        HealthStatus::Degraded => {
            note!("The platform is DEGRADED: {}", reason(&health));
            report
        }
        HealthStatus::Up => report,
    })
}
