//! `vexil`: validate, evaluate, diff, watch and inspect Vexil feature-flag configurations.
//! Exit codes: 0 success (valid, same, intact), 1 a negative answer or an
//! error in the input (invalid, different, broken), 2 a usage error (a bad option, or a bad
//! `--context` file).

/// `println!` for this binary: a line to standard output, and a quiet exit when the reader has
/// gone (`vexil validate ... | head`), where std's `println!` panics on the broken pipe.
macro_rules! println {
    () => {
        $crate::print_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::print_line(format_args!($($arg)*))
    };
}

mod commands;
mod context;
mod watch;

/// Writes one line to standard output; exits with status 0 if nobody reads it any more.
fn print_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("vexil: cannot write to standard output: {e}");
            std::process::exit(1)
        }
    }
}

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use context::ContextArgs;

#[derive(Parser, Debug)]
#[command(
    name = "vexil",
    version,
    about = "Vexil feature flags: validate, evaluate, diff and watch configurations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Output format.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// For people.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate configuration files: every problem as FILE:LINE:COLUMN: error: MESSAGE.
    #[command(
        after_help = "Example:\n  vexil validate config/features.toml\n  vexil validate --format json a.toml b.toml"
    )]
    Validate {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Flags compiled into your binary (comma-separated), to be warned about mismatches.
        #[arg(long, value_delimiter = ',', value_name = "NAMES")]
        known: Vec<String>,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Evaluate flags for a context: the answer, the reason and the generation.
    #[command(
        after_help = "Example:\n  vexil eval config/features.toml --all --node-id node-7 --env canary\n  vexil eval config/features.toml --flag new_mempool --attr region=eu-west --format json"
    )]
    Eval {
        file: PathBuf,
        /// One flag.
        #[arg(long, conflicts_with = "all")]
        flag: Option<String>,
        /// Every flag (the default).
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        context: ContextArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Field-level changes between two files, and with --nodes which nodes each change turns
    /// on or off.
    #[command(
        after_help = "Example:\n  vexil diff old.toml new.toml\n  vexil diff old.toml new.toml --nodes fleet.txt --env mainnet"
    )]
    Diff {
        old: PathBuf,
        new: PathBuf,
        /// Node ids, one per line (blank lines and # comments skipped).
        #[arg(long, value_name = "FILE")]
        nodes: Option<PathBuf>,
        #[command(flatten)]
        context: ContextArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Hot-reload a file and show each change and the state of every flag, live.
    #[command(
        after_help = "Example:\n  vexil watch config/features.toml --fleet 1000\n  vexil watch config/features.toml --format json --audit-log audit.jsonl --metrics-addr 127.0.0.1:9464"
    )]
    Watch {
        file: PathBuf,
        /// Write the hash-chained audit log here.
        #[arg(long, value_name = "PATH")]
        audit_log: Option<PathBuf>,
        /// Serve Prometheus metrics on http://ADDR/metrics.
        #[arg(long, value_name = "ADDR")]
        metrics_addr: Option<std::net::SocketAddr>,
        /// Show, per flag, how many of N simulated nodes (spread over the environments) are on.
        #[arg(long, value_name = "N")]
        fleet: Option<usize>,
        /// Debounce of file events, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 25)]
        debounce_ms: u64,
        #[command(flatten)]
        context: ContextArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Which nodes get a flag, and the share.
    #[command(
        after_help = "Example:\n  vexil rollout config/features.toml --flag fast_block_import --simulate 10000\n  vexil rollout config/features.toml --flag fast_block_import --nodes fleet.txt --format json"
    )]
    Rollout {
        file: PathBuf,
        #[arg(long)]
        flag: String,
        /// Node ids, one per line.
        #[arg(long, value_name = "FILE", conflicts_with = "simulate")]
        nodes: Option<PathBuf>,
        /// Simulate N nodes named node-0 .. node-(N-1).
        #[arg(long, value_name = "N")]
        simulate: Option<usize>,
        #[command(flatten)]
        context: ContextArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// The variant of an experiment a context is assigned.
    #[command(
        after_help = "Example:\n  vexil variant config/features.toml --experiment compact_relay_ab --node-id node-7"
    )]
    Variant {
        file: PathBuf,
        #[arg(long)]
        experiment: String,
        #[command(flatten)]
        context: ContextArgs,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Print the JSON Schema of the configuration file (for editors, e.g. through taplo).
    #[command(after_help = "Example:\n  vexil schema > vexil.schema.json")]
    Schema,
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand, Debug)]
enum AuditCommand {
    /// Check an audit log's hash chain.
    #[command(after_help = "Example:\n  vexil audit verify /var/log/vexil/audit.jsonl")]
    Verify {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
}

/// Logs to stderr, filtered by `VEXIL_LOG` (`warn` when unset; `info`, `debug`,
/// `vexil=debug,warn`, ... as `tracing_subscriber::filter::Targets` reads it).
fn init_logging() -> Result<(), String> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter: tracing_subscriber::filter::Targets = match std::env::var("VEXIL_LOG") {
        Ok(s) => s
            .parse()
            .map_err(|e| format!("VEXIL_LOG=`{s}` is not a log filter: {e}"))?,
        Err(_) => tracing_subscriber::filter::Targets::new()
            .with_default(tracing_subscriber::filter::LevelFilter::WARN),
    };
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false),
        )
        .with(filter)
        .init();
    Ok(())
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Err(message) = init_logging() {
        eprintln!("vexil: {message}");
        return ExitCode::from(2);
    }
    // A bad `--context` file is a usage error like a bad option, found before any work.
    let context = match &mut cli.command {
        Command::Eval { context, .. }
        | Command::Diff { context, .. }
        | Command::Watch { context, .. }
        | Command::Rollout { context, .. }
        | Command::Variant { context, .. } => Some(context),
        Command::Validate { .. } | Command::Schema | Command::Audit { .. } => None,
    };
    if let Err(message) = context.map_or(Ok(()), ContextArgs::load) {
        eprintln!("vexil: {message}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        Command::Validate {
            files,
            known,
            format,
        } => commands::validate(&files, &known, format),
        Command::Eval {
            file,
            flag,
            all: _,
            context,
            format,
        } => commands::eval(&file, flag.as_deref(), &context, format),
        Command::Diff {
            old,
            new,
            nodes,
            context,
            format,
        } => commands::diff(&old, &new, nodes.as_deref(), &context, format),
        Command::Watch {
            file,
            audit_log,
            metrics_addr,
            fleet,
            debounce_ms,
            context,
            format,
        } => watch::run(watch::Options {
            file,
            audit_log,
            metrics_addr,
            fleet,
            debounce: std::time::Duration::from_millis(debounce_ms),
            context,
            format,
        }),
        Command::Rollout {
            file,
            flag,
            nodes,
            simulate,
            context,
            format,
        } => commands::rollout(&file, &flag, nodes.as_deref(), simulate, &context, format),
        Command::Variant {
            file,
            experiment,
            context,
            format,
        } => commands::variant(&file, &experiment, &context, format),
        Command::Schema => commands::schema(),
        Command::Audit {
            command: AuditCommand::Verify { file, format },
        } => commands::audit_verify(&file, format),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("vexil: {message}");
            ExitCode::from(1)
        }
    }
}
