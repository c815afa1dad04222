//! `store-writer`: appends to a message store from several threads and prints one line per
//! acknowledged record, for crash tests that SIGKILL it and then check that every acked record
//! survived, and for quick manual experiments with a store directory.
//!
//! Output: `ready <valid_end> <clean|crash>` once the store is open, then per ack
//! `acked <writer> <n> <commit_log_offset> <size> <queue_id> <queue_offset>`. The body of
//! record n of writer w in run r is `run<r>-w<w>-n<n>|` repeated to the body size.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use broker::store::{FlushMode, MessageStore, StoreConfig};

struct Options {
    root: PathBuf,
    segment_size: u64,
    writers: usize,
    body_size: usize,
    count: u64,
    run: u64,
    sync: bool,
    direct_io: bool,
    journal_dir: Option<PathBuf>,
}

fn usage(program: &str, options: &getopts::Options) -> String {
    options.usage(&format!("Usage: {program} --root DIR [options]"))
}

fn parse() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().collect();
    let mut options = getopts::Options::new();
    options.reqopt("", "root", "store directory", "DIR");
    options.optopt(
        "",
        "segment-size",
        "commit-log segment bytes (default 1 MiB)",
        "BYTES",
    );
    options.optopt("", "writers", "writer threads (default 4)", "N");
    options.optopt("", "body-size", "message body bytes (default 512)", "BYTES");
    options.optopt(
        "",
        "count",
        "messages per writer, 0 = until killed (default 0)",
        "N",
    );
    options.optopt("", "run", "run number, part of every body (default 0)", "N");
    options.optopt("", "flush", "sync or async (default sync)", "MODE");
    options.optopt(
        "",
        "journal-dir",
        "where the crash journal goes (default /dev/shm)",
        "DIR",
    );
    options.optflag(
        "",
        "no-direct-io",
        "buffered writes + fdatasync instead of O_DIRECT",
    );
    options.optflag("h", "help", "print this help");
    let matches = options
        .parse(&args[1..])
        .map_err(|e| format!("{e}\n{}", usage(&args[0], &options)))?;
    if matches.opt_present("h") {
        return Err(usage(&args[0], &options));
    }
    let number = |name: &str, default: u64| -> Result<u64, String> {
        match matches.opt_str(name) {
            Some(value) => value
                .parse()
                .map_err(|_| format!("--{name}: not a number: {value}")),
            None => Ok(default),
        }
    };
    let sync = match matches.opt_str("flush").as_deref() {
        None | Some("sync") => true,
        Some("async") => false,
        Some(other) => return Err(format!("--flush: expected sync or async, got {other}")),
    };
    Ok(Options {
        root: PathBuf::from(matches.opt_str("root").unwrap_or_default()),
        segment_size: number("segment-size", 1 << 20)?,
        writers: number("writers", 4)? as usize,
        body_size: number("body-size", 512)? as usize,
        count: number("count", 0)?,
        run: number("run", 0)?,
        sync,
        direct_io: !matches.opt_present("no-direct-io"),
        journal_dir: matches.opt_str("journal-dir").map(PathBuf::from),
    })
}

fn record(run: u64, writer: usize, n: u64, body_size: usize) -> Vec<u8> {
    let host = "127.0.0.1:10911"
        .parse()
        .unwrap_or(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let body: Vec<u8> = format!("run{run}-w{writer}-n{n}|")
        .bytes()
        .cycle()
        .take(body_size)
        .collect();
    let queue_id = (writer % 4) as i32;
    let view = wire::message::RecordView::to_append("crash", queue_id, &body, "", host);
    let mut out = Vec::new();
    if let Err(error) = view.encode(&mut out) {
        eprintln!("store-writer: cannot encode: {error}");
        std::process::exit(2);
    }
    out
}

fn write(store: &MessageStore, options: &Options, writer: usize) {
    let mut n = 0;
    while options.count == 0 || n < options.count {
        let mut bytes = record(options.run, writer, n, options.body_size);
        match store.append_durable(&mut bytes) {
            Ok(result) => {
                let placed = result.records[0];
                let line = format!(
                    "acked {writer} {n} {} {} {} {}\n",
                    placed.commit_log_offset, placed.size, placed.queue_id, placed.queue_offset
                );
                let mut stdout = std::io::stdout().lock();
                if stdout
                    .write_all(line.as_bytes())
                    .and_then(|_| stdout.flush())
                    .is_err()
                {
                    return;
                }
            }
            Err(error) => {
                eprintln!("store-writer: writer {writer}, message {n}: {error}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        n += 1;
    }
}

fn main() {
    env_logger::init();
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
    };
    let mut config = StoreConfig::new(options.root.clone());
    config.commit_log.segment_size = options.segment_size;
    config.commit_log.chunk_size = (options.segment_size as usize / 4).clamp(4096, 4 << 20);
    config.consume_queue_file_units = 1000;
    config.direct_io = options.direct_io;
    config.journal.dir = options.journal_dir.clone();
    config.flush_mode = if options.sync {
        FlushMode::Sync
    } else {
        FlushMode::asynchronous(Duration::from_millis(100))
    };
    let store = match MessageStore::open(config, None) {
        Ok(store) => Arc::new(store),
        Err(error) => {
            eprintln!(
                "store-writer: cannot open {}: {error}",
                options.root.display()
            );
            std::process::exit(1);
        }
    };
    let report = store.recovery_report();
    println!(
        "ready {} {}",
        report.valid_end,
        if report.clean { "clean" } else { "crash" }
    );
    let options = Arc::new(options);
    let threads: Vec<_> = (0..options.writers)
        .map(|writer| {
            let (store, options) = (store.clone(), options.clone());
            std::thread::spawn(move || write(&store, &options, writer))
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    if let Err(error) = store.shutdown() {
        eprintln!("store-writer: shutdown: {error}");
        std::process::exit(1);
    }
}
