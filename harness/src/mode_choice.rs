//! `harness import` without `--mode` (or with `--mode auto`): which mode a
//! run uses, and why, for the summary.

use connector_api::ImportMode;
use serde::Serialize;

use crate::cli::{CliError, ImportArgs};
use crate::store::Store;

/// The mode a run uses and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModeChoice {
    /// Full or delta.
    pub mode: ImportMode,
    /// Whether the harness chose it (`auto`) rather than `--mode`.
    pub auto: bool,
    /// Why, in words, e.g. `auto: the instance workday:acme has a committed
    /// watermark`.
    pub reason: String,
}

/// Chooses the mode of `harness import`: `--mode full|delta` as given;
/// otherwise (`auto`) delta when `instance` has a committed watermark in
/// `store`, full when it has none. With `--simulated`, auto means delta with
/// `--churn` and full without.
///
/// # Errors
/// [`CliError`] when the store cannot be read.
pub fn choose(args: &ImportArgs, store: &Store, instance: &str) -> Result<ModeChoice, CliError> {
    if let Some(mode) = args.mode.and_then(crate::cli::ModeArg::fixed) {
        return Ok(ModeChoice {
            mode,
            auto: false,
            reason: "given with --mode".into(),
        });
    }
    if args.connector.simulated {
        return Ok(if args.churn.is_some() {
            auto(ImportMode::Delta, "auto: --simulated with --churn".into())
        } else {
            auto(ImportMode::Full, "auto: --simulated without --churn".into())
        });
    }
    let watermark = store
        .watermark(instance)
        .map_err(|e| CliError::new(crate::cli::exit::FAILURE, e.to_string()))?;
    Ok(match watermark {
        Some(_) => auto(
            ImportMode::Delta,
            format!("auto: the instance {instance} has a committed watermark"),
        ),
        None => auto(
            ImportMode::Full,
            format!("auto: the instance {instance} has no committed watermark yet"),
        ),
    })
}

fn auto(mode: ImportMode, reason: String) -> ModeChoice {
    ModeChoice {
        mode,
        auto: true,
        reason,
    }
}
