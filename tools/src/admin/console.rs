//! The `mqadmin` console: one command per line, the same commands and flags as one-shot mode,
//! `help`, `quit`. On a terminal it prompts; from a pipe it reads plain lines; `mqadmin serve`
//! offers it over TCP (telnet or nc), one session and thread per connection.
//!
//! Server limits: loopback unless `--bind` says otherwise, at most `--max-sessions` at once
//! (more are told so and closed), lines longer than [`LINE_MAX`] refused, a session idle for
//! `--idle-timeout` seconds closed. Telnet option negotiation bytes are dropped.

use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{CommandError, Session};

/// Longest command line accepted, in bytes.
pub const LINE_MAX: usize = 4096;

/// Splits a line into words; single or double quotes keep spaces inside a word.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unclosed quote".into());
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// What one console line did.
pub enum LineOutcome {
    Continue,
    Quit,
}

/// Runs one console line, writing its output or a one-line `error: ...` to `out`.
pub fn run_line(session: &mut Session, line: &str, out: &mut dyn Write) -> io::Result<LineOutcome> {
    let words = match split_words(line) {
        Ok(words) => words,
        Err(error) => {
            writeln!(out, "error: {error}")?;
            return Ok(LineOutcome::Continue);
        }
    };
    match words.first().map(String::as_str) {
        None => return Ok(LineOutcome::Continue),
        Some("quit" | "exit") => return Ok(LineOutcome::Quit),
        Some(_) => {}
    }
    match session.run(&words, out) {
        Ok(()) => {}
        Err(CommandError::Usage(message)) => writeln!(out, "error: {message}")?,
        Err(CommandError::Failed(message)) => {
            writeln!(out, "error: {} failed: {message}", words[0])?
        }
    }
    Ok(LineOutcome::Continue)
}

/// The console on stdin/stdout until `quit` or end of input; returns the exit code (1 only
/// when the input or output fails: a failed command prints `error: ...` and the console
/// goes on, as at the prompt).
pub fn console_main(namesrv: Option<String>) -> i32 {
    let mut session = Session::new(namesrv);
    let interactive = io::stdin().is_terminal();
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut stdout = io::stdout();
    if interactive {
        println!("mqadmin console: `help` lists the commands, `quit` leaves.");
    }
    let mut line = String::new();
    loop {
        if interactive {
            print!("mqadmin> ");
            let _ = stdout.flush();
        }
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) => return 0,
            Ok(_) => {}
            Err(error) => {
                eprintln!("mqadmin: cannot read input: {error}");
                return 1;
            }
        }
        match run_line(&mut session, &line, &mut stdout) {
            Ok(LineOutcome::Continue) => {}
            Ok(LineOutcome::Quit) => return 0,
            Err(_) => return 1,
        }
    }
}

struct ServeConfig {
    bind: SocketAddr,
    namesrv: Option<String>,
    idle: Duration,
    max_sessions: usize,
}

fn serve_config(args: &[String]) -> Result<Option<ServeConfig>, String> {
    let mut options = getopts::Options::new();
    options.optopt("p", "port", "TCP port to listen on (0 picks one)", "PORT");
    options.optopt("", "bind", "address to listen on (default 127.0.0.1)", "IP");
    options.optopt("n", "namesrvAddr", "name server address list", "ADDR");
    options.optopt(
        "",
        "idle-timeout",
        "close a session idle this long (default 300)",
        "SECONDS",
    );
    options.optopt("", "max-sessions", "sessions at once (default 16)", "N");
    options.optflag("h", "help", "Print help");
    let matches = options.parse(args).map_err(|e| e.to_string())?;
    if matches.opt_present("h") {
        println!(
            "{}",
            options.usage("usage: mqadmin serve --port P [-n NAMESRV]")
        );
        return Ok(None);
    }
    let number = |name: &str, default: u64| -> Result<u64, String> {
        match matches.opt_str(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("--{name} {v}: not a number")),
        }
    };
    let port = match matches.opt_str("p") {
        Some(port) => port
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("--port {port}: not a port"))?,
        None => return Err("--port is required".into()),
    };
    let ip = match matches.opt_str("bind") {
        Some(ip) => ip
            .trim()
            .parse()
            .map_err(|_| format!("--bind {ip}: not an IP address"))?,
        None => std::net::IpAddr::from([127, 0, 0, 1]),
    };
    Ok(Some(ServeConfig {
        bind: SocketAddr::new(ip, port),
        namesrv: matches.opt_str("n"),
        idle: Duration::from_secs(number("idle-timeout", 300)?.max(1)),
        max_sessions: number("max-sessions", 16)?.max(1) as usize,
    }))
}

/// `mqadmin serve`: listens until killed; returns the exit code.
pub fn serve_main(args: &[String]) -> i32 {
    let config = match serve_config(args) {
        Ok(Some(config)) => config,
        Ok(None) => return 0,
        Err(error) => {
            eprintln!("mqadmin serve: {error}");
            return 2;
        }
    };
    let listener = match TcpListener::bind(config.bind) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("mqadmin serve: cannot listen on {}: {error}", config.bind);
            return 1;
        }
    };
    match listener.local_addr() {
        // Scripts and tests read the bound port from this line.
        Ok(addr) => println!("mqadmin console listening on {addr}"),
        Err(error) => eprintln!("mqadmin serve: {error}"),
    }
    let _ = io::stdout().flush();
    let active = Arc::new(AtomicUsize::new(0));
    let config = Arc::new(config);
    for stream in listener.incoming() {
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(error) => {
                log::warn!("accept failed: {error}");
                continue;
            }
        };
        if active.fetch_add(1, Ordering::SeqCst) >= config.max_sessions {
            active.fetch_sub(1, Ordering::SeqCst);
            let _ = writeln!(
                stream,
                "error: too many sessions ({}), try later",
                config.max_sessions
            );
            continue;
        }
        let (active, config) = (active.clone(), config.clone());
        let spawned = std::thread::Builder::new()
            .name("mqadmin-session".into())
            .spawn(move || {
                if let Err(error) = serve_session(stream, &config) {
                    log::debug!("session ended: {error}");
                }
                active.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            log::error!("cannot start a session thread");
        }
    }
    0
}

/// Reads one line of at most [`LINE_MAX`] bytes. `Ok(None)` at end of input; an overlong
/// line is consumed to its end and reported as `Err(InvalidData)`.
fn read_line(reader: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut bytes = Vec::new();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok((!bytes.is_empty()).then(|| clean(&bytes)));
        }
        let (chunk, found) = match available.iter().position(|b| *b == b'\n') {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        let used = chunk.len();
        if bytes.len() + used > LINE_MAX + 1 {
            too_long = true;
        } else {
            bytes.extend_from_slice(chunk);
        }
        reader.consume(used);
        if found {
            if too_long {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
            }
            return Ok(Some(clean(&bytes)));
        }
    }
}

/// The text of a line without its end and without telnet negotiation (IAC sequences).
fn clean(bytes: &[u8]) -> String {
    let mut text = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            // IAC WILL/WONT/DO/DONT option: three bytes; other IAC commands two.
            0xFF if matches!(bytes.get(i + 1), Some(0xFB..=0xFE)) => i += 3,
            0xFF => i += 2,
            b'\r' | b'\n' => i += 1,
            byte => {
                text.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&text).into_owned()
}

fn serve_session(stream: TcpStream, config: &ServeConfig) -> io::Result<()> {
    stream.set_read_timeout(Some(config.idle))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut session = Session::new(config.namesrv.clone());
    writer.write_all(b"mqadmin console: `help` lists the commands, `quit` leaves.\nmqadmin> ")?;
    loop {
        let line = match read_line(&mut reader) {
            Ok(Some(line)) => line,
            Ok(None) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::InvalidData => {
                writeln!(writer, "error: line longer than {LINE_MAX} bytes")?;
                writer.write_all(b"mqadmin> ")?;
                continue;
            }
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                writeln!(writer, "\nidle for {} s, closing", config.idle.as_secs())?;
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        match run_line(&mut session, &line, &mut writer)? {
            LineOutcome::Quit => {
                writeln!(writer, "bye")?;
                return Ok(());
            }
            LineOutcome::Continue => writer.write_all(b"mqadmin> ")?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_on_spaces_and_keep_quoted_ones() {
        let words = split_words(r#"sendMessage -t T -p "hello world" -k 'a b'"#).unwrap();
        assert_eq!(
            words,
            ["sendMessage", "-t", "T", "-p", "hello world", "-k", "a b"]
        );
        assert!(split_words("x \"open").is_err());
        assert!(split_words("   ").unwrap().is_empty());
    }

    #[test]
    fn lines_are_bounded_and_telnet_bytes_dropped() {
        let mut input: &[u8] = b"\xff\xfd\x01help\r\nsecond";
        assert_eq!(read_line(&mut input).unwrap().as_deref(), Some("help"));
        assert_eq!(read_line(&mut input).unwrap().as_deref(), Some("second"));
        assert_eq!(read_line(&mut input).unwrap(), None);
        let long = format!("{}\nnext\n", "x".repeat(LINE_MAX + 10));
        let mut input = io::BufReader::with_capacity(64, long.as_bytes());
        assert_eq!(
            read_line(&mut input).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert_eq!(read_line(&mut input).unwrap().as_deref(), Some("next"));
    }
}
