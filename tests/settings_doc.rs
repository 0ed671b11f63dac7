//! `docs/SETTINGS.md` against the settings themselves, so the table cannot drift from the code.

use aignostics::Settings;

/// One documented variable: name, default and allowed values, as written.
struct Row {
    name: String,
    default: String,
    allowed: String,
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/SETTINGS.md"))
        .expect("docs/SETTINGS.md");
    text.lines()
        .filter(|line| line.starts_with("| `AIGNOSTICS_"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 4, "four cells: {line}");
            Row {
                name: cells[0].trim_matches('`').to_string(),
                default: cells[1].to_string(),
                allowed: cells[2].to_string(),
            }
        })
        .collect()
}

/// `a–b` (optionally followed by `characters`) as numbers.
fn range(allowed: &str) -> Option<(f64, f64, bool)> {
    let (range, characters) = match allowed.strip_suffix(" characters") {
        Some(r) => (r, true),
        None => (allowed, false),
    };
    let (low, high) = range.split_once('–')?;
    Some((low.parse().ok()?, high.parse().ok()?, characters))
}

/// The login settings an unknown API root needs, so that the login values are checked.
fn login_settings() -> Vec<(String, String)> {
    [
        ("API_ROOT", "http://127.0.0.1:9"),
        ("AUDIENCE", "https://audience.example"),
        ("AUTHORIZATION_BASE_URL", "http://127.0.0.1:9/authorize"),
        ("TOKEN_URL", "http://127.0.0.1:9/oauth/token"),
        ("REDIRECT_URI", "http://localhost:8989/"),
        ("DEVICE_URL", "http://127.0.0.1:9/oauth/device/code"),
        ("JWS_JSON_URL", "http://127.0.0.1:9/.well-known/jwks.json"),
        ("CLIENT_ID_INTERACTIVE", "client"),
    ]
    .into_iter()
    .map(|(k, v)| (format!("AIGNOSTICS_{k}"), v.to_string()))
    .collect()
}

/// Settings from `name=value` (plus what the value needs to be judged alone).
fn with(name: &str, value: String) -> aignostics::Result<Settings> {
    let mut vars = login_settings();
    vars.retain(|(k, _)| k != name);
    // A pause bound is judged against its partner: keep the partner out of the way.
    if let Some(group) = name.strip_suffix("_RETRY_WAIT_MIN") {
        vars.push((format!("{group}_RETRY_WAIT_MAX"), "600".into()));
    }
    if let Some(group) = name.strip_suffix("_RETRY_WAIT_MAX") {
        vars.push((format!("{group}_RETRY_WAIT_MIN"), "0".into()));
    }
    vars.push((name.to_string(), value));
    Settings::from_vars(vars)
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

// Proves every range in docs/SETTINGS.md is what the settings accept: both ends accepted,
// just beyond either end refused with the variable named (FR-79).
#[test]
fn documented_ranges_are_enforced() {
    let rows = rows();
    assert!(rows.len() >= 40, "{} rows", rows.len());
    let mut checked = 0;
    for row in &rows {
        let Some((low, high, characters)) = range(&row.allowed) else {
            continue;
        };
        let value = |n: f64| {
            if characters {
                "x".repeat(n as usize)
            } else {
                number(n)
            }
        };
        let step = if characters || (low.fract() == 0.0 && high.fract() == 0.0) {
            1.0
        } else {
            0.05
        };
        for ok in [low, high] {
            with(&row.name, value(ok))
                .unwrap_or_else(|e| panic!("{} = {ok} is documented as allowed: {e}", row.name));
        }
        let mut refused = vec![high + step];
        if low > 0.0 || !characters {
            refused.push(low - step);
        }
        for bad in refused {
            let text = if characters {
                value(bad.max(0.0))
            } else {
                number(bad)
            };
            match with(&row.name, text.clone()) {
                Err(e) => assert!(e.to_string().contains(&row.name), "{}: {e}", row.name),
                Ok(_) => panic!("{} = {text:?} is outside the documented range", row.name),
            }
        }
        checked += 1;
    }
    assert!(checked >= 30, "{checked} ranges checked");
}

// Proves every numeric default in docs/SETTINGS.md is what an unset variable gives (FR-79).
#[test]
fn documented_defaults_are_the_defaults() {
    let unset = Settings::from_vars(Vec::<(String, String)>::new()).unwrap();
    let mut checked = 0;
    for row in rows() {
        if row.default.parse::<f64>().is_err() {
            continue;
        }
        let set = Settings::from_vars([(row.name.clone(), row.default.clone())])
            .unwrap_or_else(|e| panic!("{}: {e}", row.name));
        assert_eq!(
            set, unset,
            "{} = {} is not the default",
            row.name, row.default
        );
        checked += 1;
    }
    assert!(checked >= 30, "{checked} defaults checked");
}

// Proves every variable the settings read is documented in docs/SETTINGS.md: each name (or
// group prefix) in src/settings.rs appears in the table (FR-79).
#[test]
fn every_setting_is_documented() {
    let source = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/settings.rs"))
        .expect("src/settings.rs");
    let documented: Vec<String> = rows().into_iter().map(|r| r.name).collect();
    // Names of the operating system's variables, also read there.
    const OS: [&str; 4] = ["HOME", "USERPROFILE", "LOCALAPPDATA", "XDG_CACHE_HOME"];
    let mut missing = Vec::new();
    for quoted in source.split('"').skip(1).step_by(2) {
        let name = quoted.strip_prefix("AIGNOSTICS_").unwrap_or(quoted);
        let name = name.trim_end_matches('_');
        let is_name = name.len() >= 3
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if !is_name || OS.contains(&name) {
            continue;
        }
        let full = format!("AIGNOSTICS_{name}");
        let known = documented
            .iter()
            .any(|d| *d == full || d.starts_with(&format!("{full}_")));
        if !known {
            missing.push(full);
        }
    }
    missing.sort();
    missing.dedup();
    assert!(missing.is_empty(), "not in docs/SETTINGS.md: {missing:?}");
}
