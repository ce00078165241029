//! `changerisk sql`: writes the model as one SQL query (see [`crate::sql`]).

use std::io::Write;
use std::path::Path;

use crate::cli::SqlArgs;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::output::{check_not_an_input, write_atomic};

/// Runs `sql`.
pub fn run(args: SqlArgs) -> Result<u8> {
    let SqlArgs {
        model: model_path,
        dialect,
        from,
        tiers,
        output,
    } = args;
    if from.trim().is_empty() {
        return Err(Error::Usage(
            "--from is empty: name the table (or table expression) of changes to score".into(),
        ));
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
    let query =
        crate::sql::model_sql(&model, dialect, &from, &model.tiers.overridden(percentiles))?;
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
