//! The `namesrv` binary: flags, config file, logging, signals, then the event loop.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use namesrv::config::NamesrvConfig;
use namesrv::server::Server;

/// Set by SIGINT/SIGTERM; the event loop polls it on every tick and stops.
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_signal: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_stop_signal` only performs an atomic store, which is async-signal-safe,
        // and has the C ABI signature `signal` expects.
        unsafe {
            libc::signal(signal, handler);
        }
    }
    // SAFETY: ignoring SIGPIPE is always sound; writes to a closed socket then return EPIPE
    // (Rust's runtime does this too; kept explicit because the loop depends on it).
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Lifts the open-file soft limit to the hard limit: every client holds a connection.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
        }
    };
    if !raised {
        log::warn!("cannot raise the open-file limit; many connections may be refused");
    }
}

fn usage(options: &getopts::Options) -> String {
    options.usage("Usage: namesrv [-p PORT] [-c FILE]\n\nThe RocketMQ routing centre.")
}

fn load_config(matches: &getopts::Matches) -> Result<NamesrvConfig, String> {
    let mut config = NamesrvConfig::default();
    if let Some(path) = matches.opt_str("c") {
        let text = std::fs::read_to_string(Path::new(&path))
            .map_err(|error| format!("cannot read config file {path}: {error}"))?;
        let pairs = wire::body::properties_text::parse(&text);
        config
            .apply_all(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .map_err(|error| format!("{path}: {error}"))?;
    }
    if let Some(port) = matches.opt_str("p") {
        config
            .apply("listenPort", &port)
            .map_err(|error| error.to_string())?;
    }
    Ok(config)
}

fn main() -> ExitCode {
    let mut options = getopts::Options::new();
    options.optopt("p", "port", "port to listen on (default 9876)", "PORT");
    options.optopt("c", "config", "namesrv.properties file", "FILE");
    options.optflag("h", "help", "print this help");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let matches = match options.parse(&args) {
        Ok(matches) => matches,
        Err(error) => {
            eprintln!("namesrv: {error}\n{}", usage(&options));
            return ExitCode::from(2);
        }
    };
    if matches.opt_present("h") {
        println!("{}", usage(&options));
        return ExitCode::SUCCESS;
    }
    if !matches.free.is_empty() {
        eprintln!(
            "namesrv: unexpected argument {}\n{}",
            matches.free[0],
            usage(&options)
        );
        return ExitCode::from(2);
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = match load_config(&matches) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("namesrv: {error}");
            return ExitCode::from(2);
        }
    };
    install_signal_handlers();
    raise_fd_limit();
    let address = SocketAddr::new(config.bind_address, config.listen_port);
    let server = match Server::bind(config, address) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("namesrv: cannot start on {address}: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Scripts and tests read the bound address (port 0 picks one) from this first line.
    println!("namesrv listening on {}", server.local_addr());
    match server.run(&STOP_REQUESTED) {
        Ok(()) => {
            log::info!("namesrv stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            log::error!("namesrv failed: {error}");
            eprintln!("namesrv: {error}");
            ExitCode::FAILURE
        }
    }
}
