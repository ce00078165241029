//! `changerisk sql`: writes the model as one SQL query (see [`crate::sql`]).

use std::io::Write;
use std::path::Path;

use crate::cli::SqlArgs;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::output::{check_not_an_input, write_atomic};
use crate::sql::Source;

/// Runs `sql`.
pub fn run(args: SqlArgs) -> Result<u8> {
    let SqlArgs {
        model: model_path,
        dialect,
        from,
        raw,
        incidents,
        tiers,
        output,
    } = args;
    for (flag, relation) in [("--from", Some(&from)), ("--incidents", incidents.as_ref())] {
        if relation.is_some_and(|r| r.trim().is_empty()) {
            return Err(Error::Usage(format!(
                "{flag} is empty: name the table (or table expression) to read"
            )));
        }
    }
    let percentiles = tiers
        .as_deref()
        .map(|t| super::parse_tiers("--tiers", t))
        .transpose()?;
    let to_stdout = output == Path::new("-");
    if !to_stdout {
        check_not_an_input("--output", &output, &[("model", Some(&model_path))])?;
    }
    let model = Model::load(&model_path)?;
    let source = if raw {
        if incidents.is_none() && !model.config.has_label() {
            return Err(Error::Usage(format!(
                "--raw needs --incidents: the model {} learned from incidents (its config names no label column), and its labels and history come from them",
                model_path.display()
            )));
        }
        if incidents.is_some() && model.config.has_label() {
            return Err(Error::Usage(format!(
                "--incidents: the model {} takes its labels from its config's label column and reads no incidents; leave --incidents out",
                model_path.display()
            )));
        }
        Source::Raw {
            from: &from,
            incidents: incidents.as_deref(),
        }
    } else {
        Source::Prepared { from: &from }
    };
    let tiers = model.tiers.overridden(percentiles);
    let query = crate::sql::model_sql(&model, dialect, source, &tiers)?;
    if to_stdout {
        super::print_stdout(query.trim_end())?;
    } else {
        write_atomic(&output, |w| {
            w.write_all(query.as_bytes())
                .map_err(|e| Error::io(&output, e))
        })?;
    }
    Ok(0)
}
