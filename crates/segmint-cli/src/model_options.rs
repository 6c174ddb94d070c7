//! The gradient boosting and action options of `segmint predict` (LightGBM's names), mapped to
//! the library's [`GbdtParams`] and [`ActionParams`].

use segmint::predict::actions::ActionParams;
use segmint::predict::gbdt::{ClassWeight, GbdtParams};

/// Gradient boosting settings (LightGBM names).
#[derive(clap::Args, Clone)]
pub struct ModelArgs {
    /// Boosting rounds
    #[arg(long, default_value_t = 200)]
    pub n_estimators: usize,
    #[arg(long, default_value_t = 0.05)]
    pub learning_rate: f64,
    /// Maximum leaves per tree
    #[arg(long, default_value_t = 31)]
    pub num_leaves: usize,
    /// Maximum tree depth (0 = no limit)
    #[arg(long, default_value_t = 0)]
    pub max_depth: usize,
    /// Minimum customers in a leaf
    #[arg(long, default_value_t = 20)]
    pub min_child_samples: usize,
    /// L2 penalty on leaf values
    #[arg(long, default_value_t = 0.0)]
    pub reg_lambda: f64,
    /// Bins per feature (2..255)
    #[arg(long, default_value_t = 255)]
    pub max_bin: usize,
    /// Class weights of churn: none, or balanced (n / (2 n_class))
    #[arg(long, value_enum, default_value_t = WeightArg::None)]
    pub class_weight: WeightArg,
    /// Stop when the loss on a validation share of the training rows (10%) has not improved
    /// for this many rounds (0 = off: exactly --n-estimators rounds)
    #[arg(long, default_value_t = 0)]
    pub early_stopping: usize,
    /// Shuffles per feature of the permutation importance on the test split (0 = skip)
    #[arg(long, default_value_t = 3)]
    pub permutation_repeats: usize,
    /// Seed of every random choice (splits, bin sample, permutations)
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum WeightArg {
    None,
    Balanced,
}

impl ModelArgs {
    /// The model's settings (the objective is set by the task).
    pub fn params(&self) -> GbdtParams {
        GbdtParams {
            n_estimators: self.n_estimators,
            learning_rate: self.learning_rate,
            num_leaves: self.num_leaves,
            max_depth: self.max_depth,
            min_child_samples: self.min_child_samples,
            reg_lambda: self.reg_lambda,
            max_bin: self.max_bin,
            class_weight: match self.class_weight {
                WeightArg::None => ClassWeight::None,
                WeightArg::Balanced => ClassWeight::Balanced,
            },
            early_stopping_rounds: self.early_stopping,
            seed: self.seed,
            ..GbdtParams::default()
        }
    }
}

/// Thresholds of the actionable outputs.
#[derive(clap::Args, Clone)]
pub struct ActionArgs {
    /// Churn risk bands: Low below the first, High from the second probability
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.3,0.7",
        value_name = "LOW,HIGH"
    )]
    pub risk_thresholds: Vec<f64>,
    /// Value categories: Medium, High, VIP from these quantiles of customer value
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.5,0.8,0.95",
        value_name = "Q1,Q2,Q3"
    )]
    pub value_quantiles: Vec<f64>,
    /// Retention targets: high-risk customers with more revenue than this
    #[arg(long, default_value_t = 200.0)]
    pub min_revenue: f64,
    /// Length of the insight lists
    #[arg(long, default_value_t = 20)]
    pub top: usize,
    /// Sessions listed in insights.json (conversion): probability above this
    #[arg(long, default_value_t = 0.7)]
    pub hot_threshold: f64,
    /// Features per customer (or session) that moved the prediction most (TreeSHAP), in the
    /// driver_N columns and the lists of insights.json; 0 = none, at most 10
    #[arg(long, default_value_t = 3)]
    pub drivers: usize,
    /// Drivers for every row, not only the test split and the lists
    #[arg(long)]
    pub drivers_all: bool,
}

impl ActionArgs {
    pub fn params(&self) -> ActionParams {
        ActionParams {
            risk_thresholds: self.risk_thresholds.clone(),
            value_quantiles: self.value_quantiles.clone(),
            min_revenue: self.min_revenue,
            top: self.top,
            hot_threshold: self.hot_threshold,
            drivers: self.drivers,
            drivers_all: self.drivers_all,
        }
    }
}
