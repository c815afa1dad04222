//! `mqadmin`: see [`tools::admin`].

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(tools::admin::main(args));
}
