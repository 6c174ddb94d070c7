//! CLV models on degenerate data: a fit with diagnostics or a clear error, never a silent
//! failure or a panic. (Agreement with lifetimes is checked in segmint-cli's peer tests.)

use segmint::clv::bgnbd::BgNbd;
use segmint::clv::gamma_gamma::GammaGamma;

fn fit_or_clear_error(x: &[f64], tx: &[f64], t: &[f64]) {
    match BgNbd::fit(x, tx, t, 0.0) {
        Ok(m) => {
            let d = m.diagnostics.as_ref().expect("diagnostics");
            assert!(d.converged, "{d:?}");
            assert!([m.r, m.alpha, m.a, m.b]
                .iter()
                .all(|v| v.is_finite() && *v > 0.0));
            assert!(m.log_likelihood.is_finite());
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains("converge") || msg.contains("repeat") || msg.contains("finite"),
                "{msg}"
            );
        }
    }
}

#[test]
fn degenerate_data_fits_or_errors_clearly() {
    // all customers with one purchase: a and b are not identified
    let e = BgNbd::fit(&[0.0; 50], &[0.0; 50], &[10.0; 50], 0.0).unwrap_err();
    assert!(e.to_string().contains("all 50 have frequency 0"), "{e}");
    // one customer; many identical customers
    fit_or_clear_error(&[3.0], &[10.0], &[20.0]);
    fit_or_clear_error(&[2.0; 200], &[5.0; 200], &[30.0; 200]);
    // bad inputs name the customer
    let e = BgNbd::fit(&[1.0, 2.5], &[1.0, 1.0], &[2.0, 2.0], 0.0).unwrap_err();
    assert!(e.to_string().contains("customer #2"), "{e}");
    let e = BgNbd::fit(&[1.0], &[3.0], &[2.0], 0.0).unwrap_err();
    assert!(e.to_string().contains("recency <= T"), "{e}");
    // Gamma-Gamma: no repeat customers, non-positive spend
    let e = GammaGamma::fit(&[0.0, 0.0], &[0.0, 0.0], 0.0).unwrap_err();
    assert!(e.to_string().contains("repeat purchases"), "{e}");
    let e = GammaGamma::fit(&[1.0, 2.0], &[5.0, -1.0], 0.0).unwrap_err();
    assert!(e.to_string().contains("positive spend"), "{e}");
    // identical repeat customers: the spend heterogeneity is not identified
    match GammaGamma::fit(&[2.0; 100], &[10.0; 100], 0.0) {
        Ok(m) => assert!(m.diagnostics.unwrap().converged),
        Err(e) => assert!(e.to_string().contains("converge"), "{e}"),
    }
}

#[test]
fn penalizer_shrinks_parameters() {
    // a small synthetic population: the penalty pulls the parameters towards 0
    let n = 400;
    let x: Vec<f64> = (0..n).map(|i| (i % 5) as f64).collect();
    let t: Vec<f64> = (0..n).map(|i| 20.0 + (i % 30) as f64).collect();
    let tx: Vec<f64> = (0..n)
        .map(|i| {
            if i % 5 == 0 {
                0.0
            } else {
                t[i] * ((i % 7) as f64 + 1.0) / 8.0
            }
        })
        .collect();
    let plain = BgNbd::fit(&x, &tx, &t, 0.0).unwrap();
    let pen = BgNbd::fit(&x, &tx, &t, 0.1).unwrap();
    let size = |m: &BgNbd| m.r * m.r + m.alpha * m.alpha + m.a * m.a + m.b * m.b;
    assert!(size(&pen) < size(&plain), "{pen:?} vs {plain:?}");
    assert!(pen.log_likelihood <= plain.log_likelihood + 1e-9);
    // the unpenalised fit is a maximum: its reported gradient is tiny
    assert!(plain.diagnostics.unwrap().gradient_norm < 1e-4);
}
