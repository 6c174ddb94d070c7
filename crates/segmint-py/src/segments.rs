//! Segments: k-means with scikit-learn's names, the profile of a segmentation, RFM migration
//! between two dates, and the hidden-segment search.

use std::collections::HashMap;
use std::path::PathBuf;

use arrow_pyarrow::{PyArrowType, Table};
use pyo3::prelude::*;
use segmint::cluster::fit::{fit_clusters, ClusterCount, ClusterParams};
use segmint::cluster::kmeans::Algorithm;
use segmint::cluster::names::names_for_table;
use segmint::cluster::KMeansParams;
use segmint::data::TableKind;
use segmint::segment::profile::SegmentFile;
use segmint::segment::rules::RuleSet;

use crate::{
    day, error, optional_input, overrides, progress, read_options, table, Input, SegmintError,
};

/// The features handed over from Python (an Arrow stream of numeric columns).
pub(crate) fn feature_table(x: &Bound<'_, PyAny>) -> PyResult<segmint::table::Table> {
    match Input::from_py(x)? {
        Input::Batches(b) => segmint::table::Table::from_batches("X", &b).map_err(error),
        Input::Path(_) => Err(SegmintError::new_err(
            "X must be an array or a table of numbers, not a path",
        )),
    }
}

/// The fitted clustering: `(labels, centers, inertia, n_iter, names, actions, details JSON)`.
type KMeansFit = (
    PyArrowType<Table>,
    Vec<Vec<f64>>,
    f64,
    usize,
    Vec<String>,
    Vec<String>,
    String,
);

fn labels_table(labels: Vec<u32>) -> PyResult<PyArrowType<Table>> {
    let a = std::sync::Arc::new(arrow_array::UInt32Array::from(labels));
    let batch = arrow_array::RecordBatch::try_from_iter(vec![("cluster", a as _)])
        .map_err(|e| SegmintError::new_err(e.to_string()))?;
    table(batch)
}

/// k-means on the rows of `x` (as given: no transform or scaling, like scikit-learn);
/// `n_clusters` None chooses k in `k_min..=k_max`.
#[pyfunction]
#[pyo3(signature = (x, n_clusters, *, k_min=3, k_max=8, n_init=10, max_iter=300, tol=1e-4, seed=42, algorithm="auto"))]
#[allow(clippy::too_many_arguments)]
pub fn kmeans_fit(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    n_clusters: Option<usize>,
    k_min: usize,
    k_max: usize,
    n_init: usize,
    max_iter: usize,
    tol: f64,
    seed: u64,
    algorithm: &str,
) -> PyResult<KMeansFit> {
    let x = feature_table(x)?;
    let algorithm: Algorithm = segmint::params::choice("algorithm", algorithm).map_err(error)?;
    let p = ClusterParams {
        k: match n_clusters {
            Some(k) => ClusterCount::Fixed(k),
            None => ClusterCount::Auto {
                min: k_min,
                max: k_max,
            },
        },
        kmeans: KMeansParams {
            n_init,
            max_iter,
            tol,
            seed,
            algorithm,
            ..Default::default()
        },
        ..Default::default()
    };
    let (fit, names) = py
        .detach(|| -> segmint::Result<_> {
            let fit = fit_clusters(&x, &p, &segmint::progress::NoProgress)?;
            let names = names_for_table(&x, &fit.labels, fit.k);
            Ok((fit, names))
        })
        .map_err(error)?;
    let mut details = fit.details.clone();
    if let Some(sel) = &fit.selection {
        details["selection"] =
            serde_json::to_value(sel).map_err(|e| SegmintError::new_err(e.to_string()))?;
    }
    let n_iter = details["n_iter"].as_u64().unwrap_or(0) as usize;
    Ok((
        labels_table(fit.labels)?,
        fit.centers,
        fit.inertia,
        n_iter,
        names.iter().map(|n| n.name.clone()).collect(),
        names.iter().map(|n| n.action.clone()).collect(),
        details.to_string(),
    ))
}

/// The nearest of `centers` for each row of `x`, and the inertia.
#[pyfunction]
pub fn kmeans_predict(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    centers: Vec<Vec<f64>>,
) -> PyResult<(PyArrowType<Table>, f64)> {
    let x = feature_table(x)?;
    if let Some(c) = centers.iter().find(|c| c.len() != x.cols) {
        return Err(SegmintError::new_err(format!(
            "X has {} features, the model was fitted on {}",
            x.cols,
            c.len()
        )));
    }
    let (labels, inertia) = py.detach(|| segmint::cluster::other::assign_all(&x, &centers));
    Ok((labels_table(labels)?, inertia))
}

type ProfileOut = (
    PyArrowType<Table>,
    PyArrowType<Table>,
    String,
    String,
    Vec<String>,
);

/// A segmentation from Python: a path (Parquet or CSV) or a table with `customer_id` and
/// the segment column.
fn segment_file(segments: Input, column: &str) -> segmint::Result<SegmentFile> {
    match segments {
        Input::Path(p) => segmint::segment::profile::read_segments(&p, column),
        Input::Batches(b) => SegmentFile::from_batches("segments".as_ref(), &b, column),
    }
}

/// The profile of a segmentation: `(per-segment table, feature table, profile JSON, report
/// section HTML, notes)`.
#[pyfunction]
#[pyo3(signature = (transactions, segments, customers=None, *, segment_column="segment", rules=None, ref_date=None, columns=None, timestamp_format=None, timezone=None, missing_ids=None, progress=false))]
#[allow(clippy::too_many_arguments)]
pub fn profile(
    py: Python<'_>,
    transactions: &Bound<'_, PyAny>,
    segments: &Bound<'_, PyAny>,
    customers: Option<&Bound<'_, PyAny>>,
    segment_column: &str,
    rules: Option<&str>,
    ref_date: Option<&str>,
    columns: Option<HashMap<String, String>>,
    timestamp_format: Option<&str>,
    timezone: Option<&str>,
    missing_ids: Option<&str>,
    progress: bool,
) -> PyResult<ProfileOut> {
    use segmint::segment::profile::{analyze, ProfileParams};
    let map = read_options(columns, timestamp_format, timezone, missing_ids)?;
    let params = ProfileParams {
        ref_day: day("ref_date", ref_date)?,
    };
    let rules = rules.map(RuleSet::load).transpose().map_err(error)?;
    let tx = Input::from_py(transactions)?;
    let seg = Input::from_py(segments)?;
    let customers = optional_input(customers)?;
    let r = py
        .detach(|| {
            let seg = segment_file(seg, segment_column)?;
            let tx = tx.open(TableKind::Transactions, &map)?;
            let customers = customers
                .map(|c| c.open(TableKind::Customers, &map))
                .transpose()?;
            analyze(
                &seg,
                &tx,
                customers.as_ref(),
                rules.as_ref(),
                &params,
                self::progress(progress),
            )
        })
        .map_err(error)?;
    let json =
        serde_json::to_string(&r.profile).map_err(|e| SegmintError::new_err(e.to_string()))?;
    Ok((
        table(r.profile.segments_batch().map_err(error)?)?,
        table(r.profile.features_batch().map_err(error)?)?,
        json,
        r.section().html(),
        r.notes,
    ))
}

/// RFM segment migration between two dates: `(per-customer table, summary JSON, Markdown)`.
#[pyfunction]
#[pyo3(signature = (transactions, from_date, to_date, customers=None, *, rules="default", bins=5, ties="first", top=5, columns=None, timestamp_format=None, timezone=None, missing_ids=None, progress=false))]
#[allow(clippy::too_many_arguments)]
pub fn migrate(
    py: Python<'_>,
    transactions: &Bound<'_, PyAny>,
    from_date: &str,
    to_date: &str,
    customers: Option<&Bound<'_, PyAny>>,
    rules: &str,
    bins: u32,
    ties: &str,
    top: usize,
    columns: Option<HashMap<String, String>>,
    timestamp_format: Option<&str>,
    timezone: Option<&str>,
    missing_ids: Option<&str>,
    progress: bool,
) -> PyResult<(PyArrowType<Table>, String, String)> {
    use segmint::segment::migrate::{migrate as run_migrate, MigrateParams};
    use segmint::segment::RfmParams;
    let map = read_options(columns, timestamp_format, timezone, missing_ids)?;
    let params = MigrateParams {
        scoring: RfmParams {
            bins,
            ties: segmint::params::choice("ties", ties).map_err(error)?,
        },
        from_day: day("from_date", Some(from_date))?.expect("given"),
        to_day: day("to_date", Some(to_date))?.expect("given"),
    };
    let rules = RuleSet::load(rules).map_err(error)?;
    let tx = Input::from_py(transactions)?;
    let customers = optional_input(customers)?;
    let (batch, summary) = py
        .detach(|| -> segmint::Result<_> {
            let tx = tx.open(TableKind::Transactions, &map)?;
            let customers = customers
                .map(|c| c.open(TableKind::Customers, &map))
                .transpose()?;
            let m = run_migrate(
                &tx,
                customers.as_ref(),
                &rules,
                &params,
                self::progress(progress),
            )?;
            Ok((m.to_record_batch()?, m.summary(&rules.name, top)))
        })
        .map_err(error)?;
    let json = serde_json::to_string(&summary).map_err(|e| SegmintError::new_err(e.to_string()))?;
    Ok((table(batch)?, json, summary.markdown()))
}

/// The hidden-segment search (`segmint segments discover`), written into `out`: `(report
/// JSON, Markdown, notes)`.
#[pyfunction]
#[pyo3(signature = (transactions, out, customers=None, *, params=None, truth=None, columns=None, timestamp_format=None, timezone=None, missing_ids=None, progress=false))]
#[allow(clippy::too_many_arguments)]
pub fn discover(
    py: Python<'_>,
    transactions: &Bound<'_, PyAny>,
    out: PathBuf,
    customers: Option<&Bound<'_, PyAny>>,
    params: Option<&str>,
    truth: Option<String>,
    columns: Option<HashMap<String, String>>,
    timestamp_format: Option<&str>,
    timezone: Option<&str>,
    missing_ids: Option<&str>,
    progress: bool,
) -> PyResult<(String, String, Vec<String>)> {
    use segmint::hidden::analysis::{analyze, HiddenAnalysisParams};
    use segmint::hidden::customer_table;
    let map = read_options(columns, timestamp_format, timezone, missing_ids)?;
    let mut p: HiddenAnalysisParams = overrides(&HiddenAnalysisParams::default(), params)?;
    p.truth = truth.clone();
    p.check().map_err(error)?;
    let tx = Input::from_py(transactions)?;
    let customers = optional_input(customers)?;
    let r = py
        .detach(|| -> segmint::Result<_> {
            let tx = tx.open(TableKind::Transactions, &map)?;
            let customers = customers
                .map(|c| c.open(TableKind::Customers, &map))
                .transpose()?;
            let exclude: Vec<&str> = truth.as_deref().into_iter().collect();
            let t = customer_table(&tx, customers.as_ref(), &exclude, self::progress(progress))?;
            let notes: Vec<String> = t.left_out.iter().map(|c| c.note()).collect();
            let mut r = analyze(&t, &p)?;
            if let Some(col) = &truth {
                let c = customers.as_ref().ok_or_else(|| {
                    segmint::Error::Config("truth needs a customers table".into())
                })?;
                let (names, labels) =
                    SegmentFile::from_customers(c, col, &t.customer_id)?.labels_for(&t.customer_id);
                r.compare_with(col, &names, &labels);
            }
            r.write_to(&out)?;
            Ok((r, notes))
        })
        .map_err(error)?;
    let (r, notes) = r;
    let json =
        serde_json::to_string(&r.report).map_err(|e| SegmintError::new_err(e.to_string()))?;
    Ok((json, r.report.markdown(), notes))
}
