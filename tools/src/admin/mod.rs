//! `mqadmin`: Apache RocketMQ's admin commands, with its command names, flags and table
//! layouts, on [`client::admin::AdminClient`].
//!
//! Three ways in, one command runner ([`Session::run`]):
//! - one-shot, `mqadmin <command> -n <namesrv> [flags]`: exit 0 on success, 1 when the
//!   command failed, 2 for a usage error (unknown command, bad flag), with a one-line error on
//!   stderr (Apache's tool prints a stack trace and exits 0; scripts need better);
//! - the console, `mqadmin [-n <namesrv>]` with no command: a prompt on a terminal, plain
//!   lines from a pipe ([`console`]);
//! - `mqadmin serve --port P`: the console over TCP, one session per connection ([`console`]).
//!
//! Every command renders text (aligned tables as Apache prints them) and JSON (`--json`).

pub mod console;
mod format;
mod group;
mod message;
mod overview;
mod topic;

use std::io::Write;

use client::admin::AdminClient;
use client::ClientError;
use getopts::{Matches, Options};

/// What a command produced: the text a person reads and the JSON a script parses.
pub struct Output {
    pub text: String,
    pub json: serde_json::Value,
}

#[derive(Debug)]
pub enum CommandError {
    /// The command line is wrong (exit 2).
    Usage(String),
    /// The command ran and failed (exit 1).
    Failed(String),
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Usage(message) | CommandError::Failed(message) => f.write_str(message),
        }
    }
}

impl From<ClientError> for CommandError {
    fn from(error: ClientError) -> Self {
        CommandError::Failed(error.to_string())
    }
}

pub type Outcome = Result<Output, CommandError>;

/// One admin command: its name, one-line description, flags and body.
pub struct Command {
    pub name: &'static str,
    pub description: &'static str,
    options: fn(&mut Options),
    run: fn(&mut Session, &Matches) -> Outcome,
}

/// Every command, in the order `help` lists them.
pub fn commands() -> Vec<Command> {
    let mut all = Vec::new();
    all.extend(overview::commands());
    all.extend(topic::commands());
    all.extend(group::commands());
    all.extend(message::commands());
    all
}

fn find(name: &str) -> Option<Command> {
    commands()
        .into_iter()
        .find(|command| command.name.eq_ignore_ascii_case(name))
}

/// The flags every command takes.
fn common_options(options: &mut Options) {
    options.optopt(
        "n",
        "namesrvAddr",
        "Name server address list, eg: '127.0.0.1:9876;127.0.0.2:9876'",
        "ADDR",
    );
    options.optflag("h", "help", "Print help");
    options.optflag("", "json", "Print JSON instead of tables");
}

fn options_of(command: &Command) -> Options {
    let mut options = Options::new();
    (command.options)(&mut options);
    common_options(&mut options);
    options
}

/// The help text of a command.
pub fn command_help(command: &Command) -> String {
    let brief = format!(
        "usage: mqadmin {} [flags]\n{}",
        command.name, command.description
    );
    options_of(command).usage(&brief)
}

/// The list `help` prints.
pub fn overview_help() -> String {
    let mut text = String::from("The most commonly used mqadmin commands are:\n");
    for command in commands() {
        text.push_str(&format!(
            "   {:<20} {}\n",
            command.name, command.description
        ));
    }
    text.push_str(
        "   help                 Print this list, or `help <command>` for a command's flags\n\
         \nOne-shot: mqadmin <command> -n <namesrv> [flags] [--json]\n\
         Console:  mqadmin -n <namesrv>   (a prompt; also reads commands from a pipe)\n\
         Server:   mqadmin serve --port <port> -n <namesrv>   (the console over TCP)\n",
    );
    text
}

/// A command runner holding the namesrv address and, once a command needs it, an admin
/// client (kept for the next command of a console session).
pub struct Session {
    namesrv: Option<String>,
    admin: Option<(String, AdminClient)>,
}

impl Session {
    pub fn new(namesrv: Option<String>) -> Session {
        Session {
            namesrv: namesrv.or_else(|| std::env::var("NAMESRV_ADDR").ok()),
            admin: None,
        }
    }

    /// The namesrv address of this command: its `-n`, else the session's.
    fn namesrv(&self, matches: &Matches) -> Result<String, CommandError> {
        matches
            .opt_str("n")
            .or_else(|| self.namesrv.clone())
            .filter(|addr| !addr.trim().is_empty())
            .ok_or_else(|| {
                CommandError::Usage("no namesrv: pass -n host:port or set NAMESRV_ADDR".into())
            })
    }

    /// The admin client for the command's namesrv.
    fn admin(&mut self, matches: &Matches) -> Result<&AdminClient, CommandError> {
        let namesrv = self.namesrv(matches)?;
        let reuse = matches!(&self.admin, Some((addr, _)) if *addr == namesrv);
        if !reuse {
            if let Some((_, old)) = self.admin.take() {
                old.shutdown();
            }
            let admin = AdminClient::start(&namesrv)?;
            self.admin = Some((namesrv, admin));
        }
        match &self.admin {
            Some((_, admin)) => Ok(admin),
            None => Err(CommandError::Failed("admin client not started".into())),
        }
    }

    /// Runs one command line (`args[0]` the command); writes its output to `out`.
    pub fn run(&mut self, args: &[String], out: &mut dyn Write) -> Result<(), CommandError> {
        let Some(name) = args.first() else {
            return Err(CommandError::Usage("no command given".into()));
        };
        if name == "help" {
            let text = match args.get(1) {
                None => overview_help(),
                Some(name) => command_help(&find(name).ok_or_else(|| unknown(name))?),
            };
            return write_all(out, &text);
        }
        let command = find(name).ok_or_else(|| unknown(name))?;
        let matches = options_of(&command)
            .parse(&args[1..])
            .map_err(|error| CommandError::Usage(format!("{}: {error}", command.name)))?;
        if matches.opt_present("h") {
            return write_all(out, &command_help(&command));
        }
        if let Some(extra) = matches.free.first() {
            return Err(CommandError::Usage(format!(
                "{}: unexpected argument {extra}",
                command.name
            )));
        }
        let output = (command.run)(self, &matches)?;
        if matches.opt_present("json") {
            let text = serde_json::to_string_pretty(&output.json)
                .map_err(|e| CommandError::Failed(e.to_string()))?;
            write_all(out, &format!("{text}\n"))
        } else {
            write_all(out, &output.text)
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some((_, admin)) = self.admin.take() {
            admin.shutdown();
        }
    }
}

fn unknown(name: &str) -> CommandError {
    CommandError::Usage(format!(
        "the sub command {name} does not exist (`mqadmin help` lists them)"
    ))
}

fn write_all(out: &mut dyn Write, text: &str) -> Result<(), CommandError> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CommandError::Failed(format!("cannot write output: {e}")))
}

/// A required flag's value.
fn required(matches: &Matches, name: &str) -> Result<String, CommandError> {
    matches
        .opt_str(name)
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
        .ok_or_else(|| CommandError::Usage(format!("missing required flag -{name}")))
}

/// An optional flag parsed as `T`.
fn parsed<T: std::str::FromStr>(matches: &Matches, name: &str) -> Result<Option<T>, CommandError> {
    match matches.opt_str(name) {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| CommandError::Usage(format!("flag -{name}: invalid value {text:?}"))),
    }
}

/// `mqadmin`'s entry point; returns the exit code.
pub fn main(args: Vec<String>) -> i32 {
    let first = args.first().map(String::as_str);
    match first {
        Some("serve") => return console::serve_main(&args[1..]),
        None => return console::console_main(None),
        Some(flag) if flag.starts_with('-') && flag != "-h" && flag != "--help" => {
            let mut options = Options::new();
            common_options(&mut options);
            return match options.parse(&args) {
                Ok(matches) if matches.free.is_empty() => {
                    console::console_main(matches.opt_str("n"))
                }
                Ok(matches) => {
                    eprintln!(
                        "mqadmin: the command goes first: mqadmin {} ...",
                        matches.free[0]
                    );
                    2
                }
                Err(error) => {
                    eprintln!("mqadmin: {error}");
                    2
                }
            };
        }
        Some("-h") | Some("--help") => {
            print!("{}", overview_help());
            return 0;
        }
        Some(_) => {}
    }
    let mut session = Session::new(None);
    let mut stdout = std::io::stdout().lock();
    match session.run(&args, &mut stdout) {
        Ok(()) => 0,
        Err(CommandError::Usage(message)) => {
            eprintln!("mqadmin: {message}");
            2
        }
        Err(CommandError::Failed(message)) => {
            eprintln!("mqadmin: {args0} failed: {message}", args0 = args[0]);
            1
        }
    }
}
