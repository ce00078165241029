//! `changerisk config`: prints the default feature config, or checks one.

use crate::cli::ConfigArgs;
use crate::config::{default_config_text, Config};
use crate::error::{Error, Result};

/// Runs `config`.
pub fn run(args: ConfigArgs) -> Result<u8> {
    let ConfigArgs { default, check } = args;
    let text = match check {
        Some(path) => Config::load(&path)?.to_toml(),
        None if default => default_config_text(),
        None => {
            return Err(Error::Usage(
                "say what to print: --default, or --check FILE".into(),
            ))
        }
    };
    super::print_stdout(text.trim_end())?;
    Ok(0)
}
