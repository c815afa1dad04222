//! The `broker` binary: flags, `broker.conf`, logging, signals, then the server.

use std::path::Path;
use std::process::ExitCode;

use broker::config::BrokerConfig;
use broker::server::Server;

fn usage(options: &getopts::Options) -> String {
    options.usage("Usage: broker [-c FILE] [-n NAMESRV]\n\nThe RocketMQ broker.")
}

fn load_config(matches: &getopts::Matches) -> Result<BrokerConfig, String> {
    let mut pairs = Vec::new();
    if let Some(path) = matches.opt_str("c") {
        let text = std::fs::read_to_string(Path::new(&path))
            .map_err(|error| format!("cannot read config file {path}: {error}"))?;
        pairs = wire::body::properties_text::parse(&text);
    }
    if let Some(namesrv) = matches.opt_str("n") {
        pairs.retain(|(key, _)| key != "namesrvAddr");
        pairs.push(("namesrvAddr".into(), namesrv));
    }
    if matches.opt_present("no-direct-io") {
        pairs.push(("useDirectIo".into(), "false".into()));
    }
    let mut config = BrokerConfig::default();
    config
        .apply_all(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|error| error.to_string())?;
    // What mqadmin updateBrokerConfig changed on a previous run wins over the file.
    let updates = config.updates_path();
    match std::fs::read_to_string(&updates) {
        Ok(text) => {
            pairs.extend(wire::body::properties_text::parse(&text));
            config = BrokerConfig::default();
            config
                .apply_all(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .map_err(|error| format!("{}: {error}", updates.display()))?;
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(format!("cannot read {}: {error}", updates.display())),
    }
    Ok(config)
}

fn main() -> ExitCode {
    let mut options = getopts::Options::new();
    options.optopt("c", "config", "broker.conf file", "FILE");
    options.optopt(
        "n",
        "namesrvAddr",
        "name servers, ';'-separated (overrides the file)",
        "ADDRS",
    );
    options.optflag(
        "",
        "no-direct-io",
        "buffered writes + fdatasync instead of O_DIRECT",
    );
    options.optflag("h", "help", "print this help");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let matches = match options.parse(&args) {
        Ok(matches) => matches,
        Err(error) => {
            eprintln!("broker: {error}\n{}", usage(&options));
            return ExitCode::from(2);
        }
    };
    if matches.opt_present("h") {
        println!("{}", usage(&options));
        return ExitCode::SUCCESS;
    }
    if let Some(extra) = matches.free.first() {
        eprintln!("broker: unexpected argument {extra}\n{}", usage(&options));
        return ExitCode::from(2);
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let config = match load_config(&matches) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("broker: {error}");
            return ExitCode::from(2);
        }
    };
    client::process::install_signal_handlers();
    client::process::raise_fd_limit();
    let server = match Server::bind(config) {
        Ok(server) => server,
        Err(error) => {
            eprintln!("broker: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Scripts and tests read the bound address (port 0 picks one) from this first line.
    println!("broker listening on {}", server.local_addr());
    match server.run(&client::process::STOP_REQUESTED) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("broker: {error}");
            ExitCode::FAILURE
        }
    }
}
