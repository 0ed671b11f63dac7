//! `sandbox`: a local platform in the foreground for other programs to test against.

use std::io::Write;

use aignostics_sandbox::{self as sandbox, Sandbox, SandboxUser};
use serde_json::json;

use crate::args::SandboxArgs;
use crate::context::{ACCESS_TOKEN_VAR, Ctx, Failure, Report, Result, note};

pub fn serve(ctx: &Ctx, args: &SandboxArgs) -> Result<Report> {
    let sb = Sandbox::builder()
        .catalog(sandbox::Catalog::atlas())
        .port(args.port)
        .processing_time(args.processing_time)
        .start()
        .map_err(|e| {
            let taken = std::net::TcpListener::bind(("127.0.0.1", args.port))
                .is_err_and(|b| b.kind() == std::io::ErrorKind::AddrInUse);
            if args.port != 0 && taken {
                let hint = format!(
                    "port {} is taken (another sandbox?): `aignostics sandbox --port 0` picks a \
                     free one, or stop the program that holds it",
                    args.port
                );
                Failure::hinted(e, hint)
            } else {
                e.into()
            }
        })?;
    let url = sb.base_url().to_string();
    let examples = match &args.example_slides {
        Some(dir) => sandbox::write_example_slides(dir).map_err(|e| {
            Failure::Runtime(format!(
                "cannot write example slides to {}: {e}",
                dir.display()
            ))
        })?,
        None => Vec::new(),
    };
    let users = [
        (sandbox::ALICE_TOKEN, SandboxUser::alice()),
        (sandbox::BOB_TOKEN, SandboxUser::bob()),
    ];
    // Printed before blocking, so programs reading stdout can start right away.
    let text = if ctx.json {
        // One line, so a program can read exactly one line.
        let value = json!({
            "api_root": url,
            "access_token": sandbox::ALICE_TOKEN,
            "users": users.iter().map(|(token, user)| json!({
                "token": token,
                "id": user.id,
                "email": user.email,
                "organization_id": user.organization_id,
            })).collect::<Vec<_>>(),
            "token_url": sb.token_url(),
            "client_id": sandbox::CLIENT_ID,
            "client_secret": sandbox::CLIENT_SECRET,
            "refresh_token": sandbox::ALICE_REFRESH_TOKEN,
            "bucket_endpoint": sb.bucket_endpoint(),
            "example_slides": examples,
            "login_env": sb
                .login_env()
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect::<serde_json::Map<_, _>>(),
        });
        format!("{value}\n")
    } else {
        let mut text = format!(
            "Aignostics sandbox platform on {url} (Ctrl-C stops it)\n\n\
             Point the SDK or this CLI at it from another shell:\n\n  \
             export AIGNOSTICS_API_ROOT={url} {ACCESS_TOKEN_VAR}={}\n  \
             export {}={}\n\nBearer tokens:\n",
            sandbox::ALICE_TOKEN,
            crate::shared::ENDPOINT_VAR,
            sb.bucket_endpoint()
        );
        for (token, user) in &users {
            text.push_str(&format!(
                "  {token:<20} {} ({}, {})\n",
                user.id, user.email, user.organization_id
            ));
        }
        text.push_str(&format!(
            "\nToken endpoint {}: client_credentials with {} / {}, refresh_token {}\n\
             Runs finish {:.1} s after submission; items whose external id starts with `fail-` fail.\n",
            sb.token_url(),
            sandbox::CLIENT_ID,
            sandbox::CLIENT_SECRET,
            sandbox::ALICE_REFRESH_TOKEN,
            args.processing_time.as_secs_f64()
        ));
        let login: Vec<String> = sb
            .login_env()
            .into_iter()
            .map(|(k, v)| format!("  export {k}={v}"))
            .collect();
        if args.example_slides.is_none() {
            text.push_str(
                "\nNo slides at hand? `aignostics sandbox --example-slides DIR` also writes three \
                 to try.\n",
            );
        }
        if let Some(dir) = &args.example_slides {
            let dir = dir.display();
            text.push_str(&format!(
                "\n{} example slides in {dir}; from the other shell:\n\n  \
                 aignostics slides inspect {dir}\n  \
                 aignostics runs submit he-tme --slides {dir} --download results \\\n      \
                 --mapping '.*:tissue=LUNG,disease=LUNG_CANCER,staining_method=H&E'\n",
                examples.len(),
            ));
        }
        text.push_str(&format!(
            "\nTo practise `aignostics login` against it, in a shell without {ACCESS_TOKEN_VAR}:\n\n{}\n  \
             aignostics login --device        # then open the printed link to confirm\n  \
             AIGNOSTICS_REFRESH_TOKEN={} aignostics login\n",
            login.join("\n"),
            sandbox::ALICE_REFRESH_TOKEN
        ));
        text
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::Runtime(format!("writing to stdout: {e}")))?;
    drop(stdout);
    note!("Serving until interrupted.");
    // The server runs on its own threads; the process ends on Ctrl-C or a termination signal.
    loop {
        std::thread::park();
    }
}
