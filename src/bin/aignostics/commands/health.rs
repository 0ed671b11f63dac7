//! `health`: is the platform reachable, and does it accept the token?

use aignostics::health::{Health, HealthStatus};

use crate::context::{Ctx, Failure, Report, Result, note};
use crate::table::Table;

pub fn health(ctx: &Ctx) -> Result<Report> {
    let health = ctx.client()?.health();
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
        HealthStatus::Down => report.failing(Failure::Runtime(down_message(&health))),
        HealthStatus::Degraded => {
            note!("The platform is DEGRADED: {}", reason(&health));
            report
        }
        HealthStatus::Up => report,
    })
}

/// The health check before a submission: a DOWN platform stops it (unless `--force`).
pub fn check_before_submit(client: &aignostics::Client) -> Result<()> {
    let health = client.health();
    match health.status {
        HealthStatus::Down => Err(Failure::Runtime(format!(
            "{}; nothing submitted (--force skips this check)",
            down_message(&health)
        ))),
        HealthStatus::Degraded => {
            note!(
                "The platform is DEGRADED ({}); submitting anyway",
                reason(&health)
            );
            Ok(())
        }
        HealthStatus::Up => Ok(()),
    }
}

fn reason(health: &Health) -> &str {
    health.reason().unwrap_or("no reason given")
}

fn down_message(health: &Health) -> String {
    format!("the platform is DOWN: {}", reason(health))
}
