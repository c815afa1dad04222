//! The `namesrv` binary: flags, config file, logging, signals, then the event loop.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use namesrv::config::NamesrvConfig;
use namesrv::server::Server;

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
    client::process::install_signal_handlers();
    client::process::raise_fd_limit();
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
    match server.run(&client::process::STOP_REQUESTED) {
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
