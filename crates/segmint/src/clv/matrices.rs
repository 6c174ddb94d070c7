//! The frequency/recency matrices of a fitted transaction model (lifetimes'
//! `plot_frequency_recency_matrix` and `plot_probability_alive_matrix`, CLVTools' `plot()`):
//! expected purchases over the horizon and P(alive) for every (frequency, recency) of a
//! customer as old as the oldest one, with how many customers have each history.

use serde::{Deserialize, Serialize};

use super::{Summary, TransactionModel};

/// Rows and columns at most (so the figure stays readable and the JSON small).
pub const MAX_CELLS_PER_SIDE: usize = 40;

/// Expected purchases and P(alive) on a frequency x recency grid.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FrequencyRecencyMatrices {
    /// The customer age T of every cell: the oldest customer's (as lifetimes does).
    pub t: f64,
    /// Horizon of the expected purchases, in time units.
    pub horizon: f64,
    /// The rows: repeat purchases 0, 1, ... up to the most any customer made (at most
    /// [`MAX_CELLS_PER_SIDE`] rows; the last row then holds that many or more in `customers`).
    pub frequency: Vec<f64>,
    /// The columns: recency 0 to the longest, in equal steps of whole time units.
    pub recency: Vec<f64>,
    /// `[frequency][recency]`; `None` where no history can be (no repeat purchase but a
    /// recency above 0).
    pub expected_purchases: Vec<Vec<Option<f64>>>,
    /// See `expected_purchases`.
    pub p_alive: Vec<Vec<Option<f64>>>,
    /// Customers whose (frequency, recency) falls in each cell (nearest column below).
    pub customers: Vec<Vec<u64>>,
}

/// The matrices of `model` for the customers of `s` (`None` without customers).
pub fn matrices(
    s: &Summary,
    model: &dyn TransactionModel,
    horizon: f64,
) -> Option<FrequencyRecencyMatrices> {
    let max = |v: &[f64]| {
        v.iter()
            .copied()
            .filter(|x| x.is_finite())
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
    };
    let t = max(&s.t)?;
    let rows = (max(&s.frequency)? as usize + 1).min(MAX_CELLS_PER_SIDE);
    let longest = max(&s.recency)?.ceil().max(1.0);
    let step = (longest / (MAX_CELLS_PER_SIDE - 1) as f64).ceil().max(1.0);
    let cols = (longest / step).floor() as usize + 1;
    let frequency: Vec<f64> = (0..rows).map(|i| i as f64).collect();
    let recency: Vec<f64> = (0..cols).map(|j| j as f64 * step).collect();
    let cell = |x: f64, r: f64, f: &dyn Fn(f64, f64) -> f64| -> Option<f64> {
        (x > 0.0 || r == 0.0).then(|| f(x, r.min(t)))
    };
    let grid = |f: &dyn Fn(f64, f64) -> f64| -> Vec<Vec<Option<f64>>> {
        frequency
            .iter()
            .map(|&x| recency.iter().map(|&r| cell(x, r, f)).collect())
            .collect()
    };
    let expected_purchases = grid(&|x, r| model.expected_purchases(horizon, x, r, t));
    let p_alive = grid(&|x, r| model.p_alive(x, r, t));
    let mut customers = vec![vec![0u64; cols]; rows];
    for (&x, &r) in s.frequency.iter().zip(&s.recency) {
        if x.is_finite() && r.is_finite() {
            let row = (x.max(0.0) as usize).min(rows - 1);
            let col = ((r.max(0.0) / step).floor() as usize).min(cols - 1);
            customers[row][col] += 1;
        }
    }
    Some(FrequencyRecencyMatrices {
        t,
        horizon,
        frequency,
        recency,
        expected_purchases,
        p_alive,
        customers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each cell is the model's prediction at (x, recency, T max); the grid spans the data;
    /// every customer is counted once.
    #[test]
    fn cells_are_the_model_at_the_oldest_age() {
        let bg = super::super::bgnbd::BgNbd {
            variant: Default::default(),
            r: 0.25,
            alpha: 4.0,
            a: 0.8,
            b: 2.5,
            log_likelihood: 0.0,
            customers: 0,
            penalizer: 0.0,
            estimates: Vec::new(),
            diagnostics: None,
        };
        let s = Summary {
            frequency: vec![0.0, 3.0, 1.0, 120.0],
            recency: vec![0.0, 20.5, 7.0, 150.0],
            t: vec![10.0, 30.0, 160.0, 155.0],
            monetary_value: vec![0.0; 4],
            ..Default::default()
        };
        let m = matrices(&s, &bg, 52.0).unwrap();
        assert_eq!(m.t, 160.0);
        assert_eq!(m.frequency.len(), MAX_CELLS_PER_SIDE);
        // recency 0..150 in steps of ceil(150 / 39) = 4
        assert_eq!(m.recency[1], 4.0);
        assert_eq!(*m.recency.last().unwrap(), 148.0);
        assert_eq!(m.p_alive[0][0], Some(bg.p_alive(0.0, 0.0, 160.0)));
        assert_eq!(m.p_alive[0][1], None);
        assert_eq!(
            m.expected_purchases[3][5],
            Some(bg.expected_purchases(52.0, 3.0, 20.0, 160.0))
        );
        let total: u64 = m.customers.iter().flatten().sum();
        assert_eq!(total, 4);
        assert_eq!(m.customers[3][5], 1); // x 3, recency 20.5 -> column 20
        assert_eq!(m.customers[MAX_CELLS_PER_SIDE - 1][37], 1); // 120 repeat purchases, recency 150
    }
}
