//! `changerisk config`: prints the default feature config, checks one, or proposes one
//! for a file.

use crate::cli::ConfigArgs;
use crate::config::{default_config_text, Config};
use crate::error::{Error, Result};

/// Runs `config`.
pub fn run(args: ConfigArgs) -> Result<u8> {
    let ConfigArgs {
        default,
        check,
        infer,
    } = args;
    let text = match (check, infer) {
        (Some(path), _) => Config::load(&path)?.to_toml(),
        (None, Some(path)) => crate::infer::infer(&path)?,
        (None, None) if default => default_config_text(),
        (None, None) => {
            return Err(Error::Usage(
                "say what to print: --default, --check FILE or --infer FILE".into(),
            ))
        }
    };
    super::print_stdout(text.trim_end())?;
    Ok(0)
}
