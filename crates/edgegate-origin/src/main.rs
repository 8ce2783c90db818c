//! The `edgegate-origin` binary: read the config, open the database, serve the app.
//!
//! `edgegate-origin` serves; `edgegate-origin derive-pass-keys` prints the `PASS_KEYS` line for
//! the gate secrets in `GATE_KEYS` (and nothing else, on stdout or stderr). A bad or missing
//! variable, or a database or address that cannot be used, stops it at start with a message
//! naming the variable and exit code 2.

use std::process::ExitCode;
use std::str::FromStr;

use edgegate_core::keys::SecretRing;
use edgegate_origin::{app, operator_app, AppState, Config, Store};
use tracing::{error, info};

const USAGE: &str = "usage: edgegate-origin [derive-pass-keys]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (None, _) => serve(),
        (Some("derive-pass-keys"), None) => derive_pass_keys(),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Prints the origin's half of the gate's secrets: the pass keys, never the ticket keys.
fn derive_pass_keys() -> ExitCode {
    let Some(text) = std::env::var("GATE_KEYS")
        .ok()
        .filter(|t| !t.trim().is_empty())
    else {
        eprintln!("edgegate-origin: GATE_KEYS is not set (id:hex[,id:hex…], newest first)");
        return ExitCode::from(2);
    };
    match SecretRing::parse(&text).and_then(|ring| ring.pass_keys()) {
        Ok(keys) => {
            println!("{}", keys.to_env_text());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("edgegate-origin: GATE_KEYS is invalid: {e}");
            ExitCode::from(2)
        }
    }
}

fn serve() -> ExitCode {
    // `RUST_LOG` takes a plain level (error, warn, info, debug, trace); default info.
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|l| tracing::Level::from_str(l.trim()).ok())
        .unwrap_or(tracing::Level::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("edgegate-origin: {e}");
            return ExitCode::from(2);
        }
    };
    let store = match Store::open(&config.db_path) {
        Ok(store) => store,
        Err(e) => {
            eprintln!(
                "edgegate-origin: ORIGIN_DB={} cannot be opened: {e}",
                config.db_path.display()
            );
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("edgegate-origin: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(config.addr).await {
            Ok(listener) => listener,
            Err(e) => {
                eprintln!(
                    "edgegate-origin: ORIGIN_ADDR={} cannot be bound: {e}",
                    config.addr
                );
                return ExitCode::from(2);
            }
        };
        let cap = config
            .settings
            .max_in_flight
            .map_or("none".to_owned(), |n| n.to_string());
        info!(
            addr = %config.addr,
            db = %config.db_path.display(),
            max_in_flight = %cap,
            "edgegate-origin listening on http://{}",
            config.addr
        );
        let state = AppState::new(store, config.settings);
        if let Some(addr) = config.metrics_addr {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(listener) => {
                    info!(%addr, "metrics on http://{addr}/metrics");
                    let operator = operator_app(state.clone());
                    tokio::spawn(async move {
                        if let Err(e) = axum::serve(listener, operator).await {
                            error!(error = %e, "metrics listener failed");
                        }
                    });
                }
                Err(e) => {
                    eprintln!("edgegate-origin: ORIGIN_METRICS_ADDR={addr} cannot be bound: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        let app = app(state);
        match axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
        {
            Ok(()) => {
                info!("stopped");
                ExitCode::SUCCESS
            }
            Err(e) => {
                error!(error = %e, "server failed");
                ExitCode::FAILURE
            }
        }
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
