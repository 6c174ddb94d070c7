//! Small dense linear algebra shared by the model fits (Newton steps and standard errors of the
//! CLV models, least squares of the linear baselines and segment models). The systems have a
//! handful of unknowns, so plain Gaussian elimination is exact enough and needs no dependency.

// Matrix code reads better with explicit indices.
#![allow(clippy::needless_range_loop)]

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None` if singular.
pub fn solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let n = b.len();
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .zip(b)
        .map(|(r, &bi)| {
            let mut r = r.clone();
            r.push(bi);
            r
        })
        .collect();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| m[i][c].abs().total_cmp(&m[j][c].abs()))?;
        if m[p][c].abs() < 1e-300 || !m[p][c].is_finite() {
            return None;
        }
        m.swap(c, p);
        for r in c + 1..n {
            let k = m[r][c] / m[c][c];
            for cc in c..=n {
                m[r][cc] -= k * m[c][cc];
            }
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|c| m[r][c] * x[c]).sum();
        x[r] = (m[r][n] - s) / m[r][r];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Inverse of a symmetric matrix (column by column); `None` if singular.
pub fn invert(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = a.len();
    let mut cols = Vec::with_capacity(n);
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        cols.push(solve(a, &e)?);
    }
    Some(
        (0..n)
            .map(|i| (0..n).map(|j| cols[j][i]).collect())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x3 system with a known solution, and a singular one.
    #[test]
    fn solves_and_inverts() {
        let a = vec![
            vec![4.0, 1.0, 2.0],
            vec![1.0, 5.0, 3.0],
            vec![2.0, 3.0, 6.0],
        ];
        // b = a * (1, -2, 3)
        let b = [8.0, 0.0, 14.0];
        let x = solve(&a, &b).unwrap();
        for (xi, want) in x.iter().zip([1.0, -2.0, 3.0]) {
            assert!((xi - want).abs() < 1e-12, "{x:?}");
        }
        let inv = invert(&a).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let p: f64 = (0..3).map(|k| a[i][k] * inv[k][j]).sum();
                assert!((p - (i == j) as u8 as f64).abs() < 1e-12);
            }
        }
        assert!(solve(&[vec![1.0, 2.0], vec![2.0, 4.0]], &[1.0, 2.0]).is_none());
    }
}
