//! The subcommands: each maps its flags to the library's parameters, calls the library,
//! prints and writes.

use anyhow::Result;
use segmint::pipeline::StageParams;

pub mod cluster;
pub mod clv;
pub mod cohorts;
pub mod compare;
pub mod demo;
pub mod mart;
pub mod migrate;
pub mod predict;
pub mod profile;
pub mod report;
pub mod retention;
pub mod rfm;
pub mod run;
pub mod score;
pub mod segments;
pub mod sql;
pub mod validate;

/// The library stage of a planned subcommand: its command line parsed as `segmint` would
/// parse it, mapped to the analysis parameters.
pub fn stage_params(args: &[String], inputs: &[String]) -> Result<StageParams> {
    use crate::Command;
    let argv = [vec!["segmint".to_string()], args.to_vec(), inputs.to_vec()].concat();
    let cli = <crate::Cli as clap::Parser>::try_parse_from(&argv)
        .map_err(|e| anyhow::anyhow!("{}", e.to_string().lines().next().unwrap_or("")))?;
    Ok(match &cli.command {
        Command::Cluster(a) => StageParams::Cluster(cluster::params(a)?),
        Command::Clv(a) => StageParams::Clv(clv::params(a)?),
        Command::Cohorts(a) => StageParams::Cohorts(cohorts::params(a)),
        Command::Predict(a) => StageParams::Predict(a.params()?),
        Command::Segments(a) => match &a.command {
            segments::SegmentsCommand::Discover(d) => StageParams::Hidden(segments::params(d)?),
        },
        _ => anyhow::bail!("{:?} is not a stage of segmint run", args.first()),
    })
}
