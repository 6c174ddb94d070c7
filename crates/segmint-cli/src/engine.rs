//! `--engine spark`: the mart, RFM or cohorts statement of `segmint sql` run on a Spark Connect
//! server.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use segmint::data::{ColumnMap, Inputs, TableKind};
use segmint::sql::Dialect;

use crate::options::{ScoringArgs, Task};
use crate::ui::Bars;

/// Where the mart (and RFM) are computed.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Engine {
    /// In this process
    #[default]
    Local,
    /// On a Spark Connect server (--spark-remote)
    Spark,
}

#[derive(clap::Args, Clone, Debug, Default)]
pub struct EngineArgs {
    /// Where to compute: local (in process) or spark (the SQL of `segmint sql --dialect spark`
    /// on a Spark Connect server, which reads the input files itself)
    #[arg(long, value_enum, default_value_t = Engine::Local)]
    pub engine: Engine,
    /// Spark Connect server for --engine spark
    #[arg(
        long,
        value_name = "sc://HOST:PORT",
        env = "SEGMINT_SPARK_REMOTE",
        default_value = "sc://127.0.0.1:15002"
    )]
    pub spark_remote: String,
    /// With --engine spark: also have Spark write the result as Parquet to PATH (a directory
    /// Spark can write: local, hdfs://, s3a://...), replacing what is there
    #[arg(long, value_name = "PATH")]
    pub spark_write: Option<String>,
    /// With --engine spark: a Spark SQL setting for the session, KEY=VALUE (repeatable), e.g.
    /// spark.sql.shuffle.partitions=8
    #[arg(long, value_name = "KEY=VALUE")]
    pub spark_conf: Vec<String>,
}

impl EngineArgs {
    pub fn is_spark(&self) -> bool {
        self.engine == Engine::Spark
    }

    /// Refuses Spark-only options without `--engine spark`.
    pub fn check(&self) -> Result<()> {
        if (self.spark_write.is_some() || !self.spark_conf.is_empty()) && !self.is_spark() {
            bail!("--spark-write and --spark-conf need --engine spark");
        }
        self.settings()?;
        Ok(())
    }

    /// `--spark-conf` as `SET` statements. Keys and values are limited to characters that
    /// cannot end or change the statement.
    fn settings(&self) -> Result<Vec<String>> {
        self.spark_conf
            .iter()
            .map(|kv| {
                let (k, v) = kv
                    .split_once('=')
                    .with_context(|| format!("--spark-conf {kv:?}: expected KEY=VALUE"))?;
                let (k, v) = (k.trim(), v.trim());
                let key_ok = !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
                let value_ok = !v.is_empty()
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-:/,+".contains(c));
                if !key_ok || !value_ok {
                    bail!("--spark-conf {kv:?}: keys may hold letters, digits and ._- and values also :/,+");
                }
                Ok(format!("SET {k}={v}"))
            })
            .collect()
    }
}

/// What a Spark run produced.
pub struct SparkResult {
    pub batch: RecordBatch,
    /// The source paths as Spark read them.
    pub transactions: String,
    pub seconds: f64,
}

/// The path Spark reads for a table, and its format: a local file is passed as an absolute
/// path (the server runs on this machine or shares its file system); `--transactions PATH` that
/// does not exist here (hdfs://, s3a://) is passed as given.
fn spark_source(inputs: &Inputs, kind: TableKind) -> Option<(String, &'static str)> {
    let p = inputs.path(kind)?;
    let text = if p.exists() {
        std::fs::canonicalize(&p)
            .unwrap_or(p.clone())
            .display()
            .to_string()
    } else {
        p.display().to_string()
    };
    let csv = text.to_ascii_lowercase().ends_with(".csv");
    Some((text, if csv { "csv" } else { "parquet" }))
}

/// Runs `task` on Spark and returns the result with `schema` (columns cast to segmint's types).
#[allow(clippy::too_many_arguments)]
pub fn run(
    engine: &EngineArgs,
    inputs: &Inputs,
    map: ColumnMap,
    task: Task,
    scoring: Option<&ScoringArgs>,
    ref_day: Option<i64>,
    schema: SchemaRef,
    period: segmint::cohorts::Period,
    bars: &Bars,
) -> Result<SparkResult> {
    let t0 = std::time::Instant::now();
    let d = Dialect::Spark;
    let (tx_path, tx_format) =
        spark_source(inputs, TableKind::Transactions).with_context(|| {
            "no transactions input: pass --data DIR or --transactions PATH".to_string()
        })?;
    let customers = spark_source(inputs, TableKind::Customers);
    let sql = crate::options::statement(
        d,
        task,
        scoring,
        ref_day,
        map,
        "segmint_transactions",
        "segmint_customers",
        period,
    )?;
    let mut spark = bars.timed("connecting to Spark", || {
        let mut spark = segmint_spark::SparkSession::connect(&engine.spark_remote)?;
        spark.command("SET spark.sql.session.timeZone = UTC")?;
        for set in engine
            .settings()
            .map_err(|e| segmint::Error::Config(e.to_string()))?
        {
            spark.command(&set)?;
        }
        Ok::<_, segmint::Error>(spark)
    })?;
    let view = |name: &str, path: &str, format: &str| {
        let header = if format == "csv" {
            ", header 'true'"
        } else {
            ""
        };
        format!(
            "CREATE OR REPLACE TEMPORARY VIEW {} USING {format} OPTIONS (path {}{header})",
            d.ident(name),
            d.string(path)
        )
    };
    spark.command(&view("segmint_transactions", &tx_path, tx_format))?;
    if let Some((path, format)) = &customers {
        spark.command(&view("segmint_customers", path, format))?;
    }
    if let Some(path) = &engine.spark_write {
        bars.timed("Spark writes the result", || {
            spark.command(&format!(
                "INSERT OVERWRITE DIRECTORY {} USING parquet {sql}",
                d.string(path)
            ))
        })?;
    }
    let batches = bars.timed("computing in Spark", || spark.sql(&sql))?;
    let batch = conform(&batches, schema)?;
    Ok(SparkResult {
        batch,
        transactions: tx_path,
        seconds: t0.elapsed().as_secs_f64(),
    })
}

/// One batch with segmint's schema from Spark's batches (Spark may send large strings,
/// other timestamp zones, nullable columns).
fn conform(batches: &[RecordBatch], schema: SchemaRef) -> Result<RecordBatch> {
    let Some(first) = batches.first() else {
        bail!("Spark returned no result");
    };
    let all = arrow_select::concat::concat_batches(&first.schema(), batches)?;
    let mut cols = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let c = all
            .column_by_name(f.name())
            .with_context(|| format!("Spark's result has no column {:?}", f.name()))?;
        let c = arrow_cast::cast(c, f.data_type())
            .with_context(|| format!("Spark's column {:?}", f.name()))?;
        if !f.is_nullable() && c.null_count() > 0 {
            bail!(
                "Spark's column {:?} has {} null values",
                f.name(),
                c.null_count()
            );
        }
        cols.push(c);
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(schema.fields().clone())),
        cols,
    )?)
}
