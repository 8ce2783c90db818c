//! `edgegate`: the operator's command-line tool for an edgegate waiting room.
//!
//! A thin client of the gate's admin API (`/admin/state`, `/admin/config`, `/admin/test-key`,
//! and `/admin/revoke`, `/admin/audit`, `/admin/history` where the gate offers them). It does not
//! link the gate's core: it reads answers as JSON and picks out the fields it shows, so gate and
//! CLI can be upgraded apart. The gate checks every bound; the CLI checks only what it must to
//! build a request, plus one safety rule of its own (a large rate increase needs confirmation).
//!
//! The gate URL, token and room come from flags or the environment (`EDGEGATE_URL`,
//! `EDGEGATE_ADMIN_TOKEN`, `EDGEGATE_ROOM`). The token is never printed.
//!
//! # Exit codes
//!
//! Scripts can rely on these; they are also listed under `edgegate --help`.
//!
//! | code | meaning |
//! | --- | --- |
//! | 0 | done |
//! | 1 | the gate refused the request (4xx); the message names its error and field |
//! | 2 | usage error (clap's own, or a bad value), or a risky change refused without `--yes` |
//! | 3 | cannot reach the gate: connection, timeout, TLS, a redirect, or a 5xx answer |
//! | 4 | unauthorized: the gate refused the admin token (401/403) |
//! | 5 | this gate does not offer the feature yet (404/405 on a route this tool knows) |
//!
//! With `--json`, results go to stdout as JSON and errors to stderr as
//! `{"error", "kind", "exit", "status", "field"}`.

mod cli;
mod commands;
mod draw;
mod gate;
mod output;
mod report;
mod set;
mod status;
mod when;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, Global};
use crate::gate::{Exit, Failure, Gate};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.global.json;
    match run(cli) {
        Ok(()) => ExitCode::from(Exit::Ok.code()),
        Err(failure) => {
            if json {
                eprintln!("{}", failure.to_json());
            } else {
                eprintln!("edgegate: {failure}");
            }
            ExitCode::from(failure.exit.code())
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let global = &cli.global;
    if let Command::Draw(args) = &cli.command {
        // For anyone checking the draw: no admin token.
        let gate = Gate::new(
            &global.gate,
            String::new(),
            global.room.clone(),
            global.timeout_ms,
        )?;
        return draw::run(&gate, args, global.json);
    }
    let gate = Gate::new(
        &global.gate,
        token(global)?,
        global.room.clone(),
        global.timeout_ms,
    )?
    .with_operator(
        global
            .operator
            .clone()
            .or_else(|| std::env::var("USER").ok()),
    );
    let json = global.json;
    match cli.command {
        Command::Status(args) if args.watch => status::watch(&gate, &args, json),
        Command::Status(_) => status::once(&gate, json),
        Command::Set(args) => commands::set(&gate, &args, json),
        Command::Pause => commands::pause(&gate, true, json),
        Command::Resume => commands::pause(&gate, false, json),
        Command::Close(args) => commands::close(&gate, &args, json),
        Command::Open => commands::open(&gate, json),
        Command::OpenAt(args) => commands::open_at(&gate, &args, json),
        Command::Revoke(args) => commands::revoke(&gate, &args, json),
        Command::TestKey(args) => commands::test_key(&gate, &args, json),
        Command::Audit(args) => commands::audit(&gate, &args, json),
        Command::Report(args) => report::run(&gate, &args, json),
        Command::Draw(args) => draw::run(&gate, &args, json),
    }
}

/// The admin token: `--token`, else `--token-file`, else `EDGEGATE_ADMIN_TOKEN`. Checked for
/// what a header can carry, so a stray newline from a file is trimmed and anything worse is a
/// usage error here rather than an obscure failure in the HTTP layer.
fn token(global: &Global) -> Result<String, Failure> {
    let (token, from) = if let Some(token) = &global.token {
        (token.clone(), "--token".to_owned())
    } else if let Some(path) = &global.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!("cannot read --token-file {}: {e}", path.display()))
        })?;
        (text, format!("--token-file {}", path.display()))
    } else {
        match std::env::var("EDGEGATE_ADMIN_TOKEN") {
            Ok(token) => (token, "EDGEGATE_ADMIN_TOKEN".to_owned()),
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(Failure::usage(
                    "EDGEGATE_ADMIN_TOKEN is not valid UTF-8 text",
                ))
            }
            Err(std::env::VarError::NotPresent) => return Err(Failure::usage(
                "no admin token: set EDGEGATE_ADMIN_TOKEN, or pass --token-file PATH or --token",
            )),
        }
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(Failure::usage(format!(
            "the admin token from {from} is empty"
        )));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Failure::usage(format!(
            "the admin token from {from} has spaces or characters an HTTP header cannot carry"
        )));
    }
    Ok(token.to_owned())
}
