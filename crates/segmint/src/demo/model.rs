//! The generating process of `../shared/bench/gen_data.py` (documented in its SCHEMA.md), one
//! block of 10,000 customers at a time. Randomness comes from a xoshiro256++ stream per block,
//! seeded from (seed, block): the output depends only on the seed, N and the model parameters,
//! never on the thread count, and the first K customers of a data set equal the data set of K
//! customers. The random streams differ from numpy's; the distributions are the same.

use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution, Exp, Gamma, Geometric, Normal, Poisson, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

use super::DemoParams;

pub const BLOCK: u64 = 10_000;
pub const US_PER_SEC: i64 = 1_000_000;
pub const US_PER_HOUR: i64 = 3600 * US_PER_SEC;
pub const US_PER_DAY: i64 = 24 * US_PER_HOUR;
pub const US_PER_WEEK: i64 = 7 * US_PER_DAY;

pub const REGIONS: [&str; 5] = ["US-EAST", "US-WEST", "EU-WEST", "AP-SOUTH", "LATAM"];
const REGION_P: [f64; 5] = [0.24, 0.20, 0.22, 0.20, 0.14];
const AP_SOUTH: u8 = 3;
pub const TIERS: [&str; 3] = ["Standard", "Premium", "Enterprise"];
const TIER_P: [f64; 3] = [0.7, 0.2, 0.1];
pub const TIER_MULT: [f64; 3] = [1.0, 3.0, 10.0];
const TIER_INCOME_SHIFT: [f64; 3] = [0.0, 0.35, 0.70];
const TIER_PREMIUM_P: [f64; 3] = [0.15, 0.50, 0.75];
const TIER_LOYALTY: [f64; 3] = [1.0, 2.0, 4.0];
pub const PAYMENTS: [&str; 4] = ["card", "paypal", "bank_transfer", "cod"];
const PAY_P: [f64; 4] = [0.55, 0.25, 0.12, 0.08];
pub const CATEGORIES: [&str; 6] = [
    "electronics",
    "apparel",
    "home",
    "beauty",
    "sports",
    "books",
];
const CAT_P: [f64; 6] = [0.15, 0.25, 0.20, 0.15, 0.10, 0.15];
const CAT_BASE_PRICE: [f64; 6] = [250.0, 45.0, 60.0, 25.0, 70.0, 18.0];
pub const PRODUCTS_PER_CATEGORY: usize = 500;
pub const DEVICES: [&str; 3] = ["mobile", "desktop", "tablet"];
const DEV_P: [f64; 3] = [0.58, 0.32, 0.10];
const DEV_MULT: [f64; 3] = [0.85, 1.15, 1.00];
pub const SOURCES: [&str; 5] = ["organic", "paid", "email", "social", "direct"];
const SRC_P: [f64; 5] = [0.35, 0.20, 0.12, 0.18, 0.15];
const SRC_MULT: [f64; 5] = [1.00, 0.90, 1.25, 0.75, 1.15];
const STAGE_BASE: [f64; 4] = [0.70, 0.55, 0.65, 0.75];
pub const EVENT_TYPES: [&str; 6] = [
    "page_view",
    "product_view",
    "add_to_cart",
    "remove_from_cart",
    "begin_checkout",
    "purchase",
];
const EV_PV: u8 = 0;
const EV_PROD: u8 = 1;
const EV_ADD: u8 = 2;
const EV_REM: u8 = 3;
const EV_CHK: u8 = 4;
const EV_PUR: u8 = 5;

/// Rounds to cents like numpy (`rint(x * 100) / 100`).
pub fn round2(x: f64) -> f64 {
    (x * 100.0).round_ties_even() / 100.0
}

fn cumulative<const N: usize>(p: [f64; N]) -> [f64; N] {
    let mut c = [0.0; N];
    let mut s = 0.0;
    for i in 0..N {
        s += p[i];
        c[i] = s;
    }
    let total = s;
    for v in &mut c {
        *v /= total;
    }
    c
}

/// Index drawn from a cumulative distribution.
fn pick(cum: &[f64], u: f64) -> usize {
    cum.iter().position(|&c| u < c).unwrap_or(cum.len() - 1)
}

/// The funnel tables of SCHEMA.md: per (device, source) combination (`device * 5 + source`).
#[derive(Debug, Clone)]
pub struct Funnel {
    pub cum_combo_conv: [f64; 15],
    pub cum_combo_non: [f64; 15],
    /// cumulative P(depth = 1..4 | combo, non-converting)
    pub cum_depth: [[f64; 4]; 15],
    pub p_conv: [f64; 15],
}

impl Funnel {
    pub fn new() -> Self {
        let mut p_conv = [0.0; 15];
        let mut prior = [0.0; 15];
        let mut cum_depth = [[0.0; 4]; 15];
        for d in 0..3 {
            for s in 0..5 {
                let combo = d * 5 + s;
                let c: Vec<f64> = STAGE_BASE
                    .iter()
                    .map(|b| (b * DEV_MULT[d] * SRC_MULT[s]).min(0.95))
                    .collect();
                let mut reach = [1.0; 5];
                for k in 0..4 {
                    reach[k + 1] = reach[k] * c[k];
                }
                p_conv[combo] = reach[4];
                prior[combo] = DEV_P[d] * SRC_P[s];
                let mut p_depth = [0.0; 4];
                for j in 0..4 {
                    p_depth[j] = reach[j] * (1.0 - c[j]);
                }
                cum_depth[combo] = cumulative(p_depth);
            }
        }
        let mut conv = [0.0; 15];
        let mut non = [0.0; 15];
        for i in 0..15 {
            conv[i] = prior[i] * p_conv[i];
            non[i] = prior[i] * (1.0 - p_conv[i]);
        }
        Funnel {
            cum_combo_conv: cumulative(conv),
            cum_combo_non: cumulative(non),
            cum_depth,
            p_conv,
        }
    }
}

impl Default for Funnel {
    fn default() -> Self {
        Self::new()
    }
}

/// The product catalog: 3,000 products, 500 per category.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub price: Vec<f64>,
    /// cumulative popularity within a category (1 / rank)
    pub cum_popularity: Vec<f64>,
}

impl Catalog {
    pub fn new(seed: u64) -> Self {
        let mut rng = block_rng(seed, 1_000_000_007);
        let n = CATEGORIES.len() * PRODUCTS_PER_CATEGORY;
        let price = (0..n)
            .map(|i| {
                let z: f64 = StandardNormal.sample(&mut rng);
                round2(CAT_BASE_PRICE[i / PRODUCTS_PER_CATEGORY] * (0.5 * z).exp()).max(0.99)
            })
            .collect();
        let w: Vec<f64> = (1..=PRODUCTS_PER_CATEGORY)
            .map(|r| 1.0 / r as f64)
            .collect();
        let total: f64 = w.iter().sum();
        let mut s = 0.0;
        let cum_popularity = w
            .iter()
            .map(|x| {
                s += x / total;
                s
            })
            .collect();
        Catalog {
            price,
            cum_popularity,
        }
    }

    fn pick(&self, rng: &mut impl Rng, cat: u8) -> u32 {
        let u: f64 = rng.random();
        let within = self
            .cum_popularity
            .partition_point(|&c| c <= u)
            .min(PRODUCTS_PER_CATEGORY - 1);
        (cat as usize * PRODUCTS_PER_CATEGORY + within) as u32
    }
}

/// The RNG of one block: xoshiro256++ seeded through SplitMix64 from (seed, block).
pub fn block_rng(seed: u64, block: u64) -> Xoshiro256PlusPlus {
    let mut z =
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ block.wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    Xoshiro256PlusPlus::seed_from_u64(z ^ (z >> 31))
}

/// One block of generated rows, column by column. Customers are numbered `cnum` (1-based).
#[derive(Default)]
pub struct Block {
    // customers + ground truth (one entry per customer)
    pub c_num: Vec<u64>,
    pub c_signup_day: Vec<i32>,
    pub c_age: Vec<i64>,
    pub c_income: Vec<f64>,
    pub c_credit: Vec<i64>,
    pub c_premium: Vec<bool>,
    pub c_loyalty: Vec<i64>,
    pub c_tickets: Vec<i64>,
    pub c_region: Vec<u8>,
    pub c_tier: Vec<u8>,
    /// 0 = control, 1 = A, 2 = B.
    pub c_group: Vec<u8>,
    pub c_success: Vec<i64>,
    pub g_lambda: Vec<f64>,
    pub g_dropout_p: Vec<f64>,
    pub g_alive: Vec<bool>,
    pub g_dropout_at: Vec<Option<i64>>,
    pub g_n_orders: Vec<i64>,
    pub g_nu: Vec<f64>,
    pub g_eov: Vec<f64>,
    pub g_seg_a: Vec<bool>,
    pub g_seg_b: Vec<bool>,
    pub g_p_success: Vec<f64>,
    // transactions
    pub t_num: Vec<u64>,
    pub t_order: Vec<u32>,
    pub t_ts: Vec<i64>,
    pub t_amount: Vec<f64>,
    pub t_qty: Vec<i64>,
    pub t_region: Vec<u8>,
    pub t_pay: Vec<u8>,
    pub t_cat: Vec<u8>,
    // events
    pub e_num: Vec<u64>,
    pub e_session: Vec<u32>,
    pub e_ts: Vec<i64>,
    pub e_type: Vec<u8>,
    pub e_product: Vec<i32>,
    pub e_price: Vec<f64>,
    pub e_combo: Vec<u8>,
    pub e_order: Vec<i32>,
}

struct Order {
    ts: i64,
    amount: f64,
    qty: i64,
    region: u8,
    pay: u8,
    cat: u8,
    product: u32,
}

struct Session {
    conv: bool,
    order: i32,
    combo: u8,
    start: i64,
    main: u32,
    main_price: f64,
    extra: bool,
    /// funnel depth: 1 page views, 2 product views, 3 cart, 4 checkout, 5 purchase
    depth: u8,
    remove: bool,
    counts: [u8; 6],
    offsets: Vec<i64>,
}

fn poisson(rng: &mut impl Rng, lambda: f64) -> u64 {
    if lambda > 0.0 && lambda.is_finite() {
        Poisson::new(lambda).expect("positive lambda").sample(rng) as u64
    } else {
        0
    }
}

/// Generates customers `first .. first + count` (numbers are 1-based) of block `b`.
pub fn gen_block(
    b: u64,
    p: &DemoParams,
    w: &super::Window,
    funnel: &Funnel,
    catalog: &Catalog,
) -> Block {
    let mut rng = block_rng(p.seed, b);
    let n_keep = (p.customers - b * BLOCK).min(BLOCK);
    let cum_tier = cumulative(TIER_P);
    let cum_region = cumulative(REGION_P);
    let cum_pay = cumulative(PAY_P);
    let cum_cat = cumulative(CAT_P);
    let age_d = Normal::new(41.0, 13.0).expect("valid");
    let lam_d = Gamma::new(p.r, 1.0 / p.alpha).expect("validated");
    let drop_d = Beta::new(p.a, p.b).expect("validated");
    let fx = p.premium_effects;
    let drop_premium =
        Beta::new(p.a, p.b * (-fx.dropout).exp()).expect("validated: b e^-dropout > 0");
    let nu_d = Gamma::new(p.gg_q, 1.0 / p.gg_gamma).expect("validated");
    let spend_d = Gamma::new(p.gg_p, 1.0).expect("validated");
    let exp30 = Exp::new(1.0 / 30.0).expect("valid");
    let exp45 = Exp::new(1.0 / 45.0).expect("valid");
    let ret_p = p.return_rate / (1.0 - p.return_rate);
    let wd = w.days;
    let mut out = Block::default();
    let mut orders: Vec<Order> = Vec::new();
    let mut sessions: Vec<Session> = Vec::new();
    let mut rows: Vec<(i64, u8, usize, f64, i64)> = Vec::new();
    for i in 0..n_keep {
        let cnum = b * BLOCK + i + 1;
        // ---- attributes
        let signup_day = rng.random_range(0..wd);
        let tier = pick(&cum_tier, rng.random()) as u8;
        let tier = if p.tiers { tier } else { 0 };
        let region = pick(&cum_region, rng.random()) as u8;
        let age = Distribution::<f64>::sample(&age_d, &mut rng)
            .round_ties_even()
            .clamp(18.0, 85.0) as i64;
        let z: f64 = StandardNormal.sample(&mut rng);
        let income = round2((62_000f64.ln() + TIER_INCOME_SHIFT[tier as usize] + 0.6 * z).exp());
        let premium = rng.random::<f64>() < TIER_PREMIUM_P[tier as usize];
        let credit_d = Normal::new(665.0 + 20.0 * tier as f64, 75.0).expect("valid");
        let credit = credit_d
            .sample(&mut rng)
            .round_ties_even()
            .clamp(300.0, 850.0) as i64;
        let years = (wd - signup_day) as f64 / 365.25;
        let loyalty = poisson(
            &mut rng,
            years * 600.0 * TIER_LOYALTY[tier as usize] * if premium { 1.5 } else { 1.0 },
        ) as i64;
        let tickets = poisson(&mut rng, 0.3 + 0.6 * years) as i64;
        // one uniform draw places the customer in a group, so two and three arms share every
        // other draw: two arms A (u < 1/2), B; three arms control (u < 1/3), A, B
        let u = rng.random::<f64>();
        // three arms: segments that do not overlap and a depth-2 policy tree can express exactly
        // (income first, age second), so the planted best arm is recoverable
        let (group, seg_a, seg_b) = if p.arms == 3 {
            let rich = income > 150_000.0;
            ((u * 3.0) as u8, rich, age < 40 && !rich)
        } else {
            (
                if u < 0.5 { 1 } else { 2 },
                income > 150_000.0 && !premium,
                age < 30 && region == AP_SOUTH,
            )
        };
        // with three arms an arm outside its segment costs `arm_fatigue` (contact fatigue), so
        // every customer has one best arm: A in A's segment, else B in B's, else control
        let outside = if p.arms == 3 { -p.arm_fatigue } else { 0.0 };
        let p_success = 0.18
            + if credit >= 700 { 0.04 } else { 0.0 }
            + match group {
                1 if seg_a => p.effect_a,
                2 if seg_b => p.effect_b,
                1 | 2 => outside,
                _ => 0.0,
            };
        let success = (rng.random::<f64>() < p_success) as i64;
        let fav_pay = pick(&cum_pay, rng.random()) as u8;
        let fav_cat = pick(&cum_cat, rng.random()) as u8;

        // ---- BG/NBD purchases (weeks)
        let first_us = w.start_us
            + signup_day as i64 * US_PER_DAY
            + rng.random_range(6 * US_PER_HOUR..22 * US_PER_HOUR);
        let t_us = w.end_us - first_us;
        let on = |effect: f64| if premium { effect.exp() } else { 1.0 };
        let lam: f64 = lam_d.sample(&mut rng) * on(fx.purchase);
        let pdrop: f64 = if premium && fx.dropout != 0.0 {
            drop_premium.sample(&mut rng)
        } else {
            drop_d.sample(&mut rng)
        };
        let n_poisson = poisson(&mut rng, lam * (t_us as f64 / US_PER_WEEK as f64));
        let dropout_after = Geometric::new(pdrop.max(1e-12))
            .expect("p in (0, 1]")
            .sample(&mut rng)
            .saturating_add(1);
        let x = n_poisson.min(dropout_after);
        let alive = n_poisson < dropout_after;
        let mut u: Vec<f64> = (0..n_poisson).map(|_| rng.random::<f64>()).collect();
        u.sort_by(f64::total_cmp);
        let rep_ts: Vec<i64> = u[..x as usize]
            .iter()
            .map(|&u| first_us + ((u * t_us as f64) as i64).min(t_us - 1))
            .collect();
        let dropout_at = if alive { None } else { rep_ts.last().copied() };

        // ---- orders
        let nu: f64 = nu_d.sample(&mut rng) / on(fx.spend);
        let mult = TIER_MULT[tier as usize];
        orders.clear();
        for ts in std::iter::once(first_us).chain(rep_ts.iter().copied()) {
            let amount = round2(spend_d.sample(&mut rng) / nu * mult).max(0.01);
            let qty = 1 + poisson(&mut rng, 0.7) as i64;
            let o_region = if rng.random::<f64>() < 0.92 {
                region
            } else {
                (region + rng.random_range(1..5u8)) % 5
            };
            let pay = if rng.random::<f64>() < 0.75 {
                fav_pay
            } else {
                pick(&cum_pay, rng.random()) as u8
            };
            let cat = if rng.random::<f64>() < 0.5 {
                fav_cat
            } else {
                pick(&cum_cat, rng.random()) as u8
            };
            let product = catalog.pick(&mut rng, cat);
            orders.push(Order {
                ts,
                amount,
                qty,
                region: o_region,
                pay,
                cat,
                product,
            });
        }

        // ---- transactions: orders and returns, by timestamp
        rows.clear();
        for (k, o) in orders.iter().enumerate() {
            rows.push((o.ts, 0, k, o.amount, o.qty));
            if o.ts + US_PER_DAY < w.end_us && rng.random::<f64>() < ret_p {
                let room = (30 * US_PER_DAY).min(w.end_us - 1 - o.ts);
                let r_ts =
                    o.ts + US_PER_DAY + (rng.random::<f64>() * (room - US_PER_DAY) as f64) as i64;
                let full = rng.random::<f64>() < 0.6;
                let q = o.qty;
                let (units, refund) = if full {
                    (q, o.amount)
                } else if q == 1 {
                    (
                        1,
                        round2(o.amount * rng.random_range(0.2..0.8)).clamp(0.01, o.amount),
                    )
                } else {
                    let k_units = 1 + (rng.random::<f64>() * (q - 1) as f64) as i64;
                    (
                        k_units,
                        round2(o.amount * k_units as f64 / q as f64).clamp(0.01, o.amount),
                    )
                };
                rows.push((r_ts, 1, k, -refund, units));
            }
        }
        rows.sort_by_key(|r| (r.0, r.1, r.2));
        for &(ts, _, k, amount, qty) in &rows {
            let o = &orders[k];
            out.t_num.push(cnum);
            out.t_order.push(k as u32);
            out.t_ts.push(ts);
            out.t_amount.push(amount);
            out.t_qty.push(qty);
            out.t_region.push(o.region);
            out.t_pay.push(o.pay);
            out.t_cat.push(o.cat);
        }

        // ---- sessions: one converting session per order, Poisson(browse_ratio x orders) others
        sessions.clear();
        for (k, o) in orders.iter().enumerate() {
            let combo = pick(&funnel.cum_combo_conv, rng.random()) as u8;
            let extra = rng.random::<f64>() < 0.10;
            sessions.push(Session {
                conv: true,
                order: k as i32,
                combo,
                start: o.ts,
                main: o.product,
                main_price: round2(o.amount / o.qty as f64),
                extra,
                depth: 5,
                remove: false,
                counts: [0; 6],
                offsets: Vec::new(),
            });
        }
        let n_browse = poisson(&mut rng, p.browse_ratio * orders.len() as f64);
        let act_end = if alive {
            w.end_us - 2 * US_PER_HOUR
        } else {
            let d = dropout_at.expect("dead customers have a drop-out time");
            (w.end_us - 2 * US_PER_HOUR)
                .min(d + (exp30.sample(&mut rng) * US_PER_DAY as f64) as i64)
        }
        .max(first_us);
        for _ in 0..n_browse {
            let combo = pick(&funnel.cum_combo_non, rng.random()) as u8;
            let depth = (1 + pick(&funnel.cum_depth[combo as usize], rng.random())).min(4) as u8;
            let anchor = first_us + (rng.random::<f64>() * (act_end - first_us) as f64) as i64;
            let remove = depth == 3 && rng.random::<f64>() < 0.35;
            let main_cat = if rng.random::<f64>() < 0.5 {
                fav_cat
            } else {
                pick(&cum_cat, rng.random()) as u8
            };
            let main = catalog.pick(&mut rng, main_cat);
            sessions.push(Session {
                conv: false,
                order: -1,
                combo,
                start: anchor,
                main,
                main_price: catalog.price[main as usize],
                extra: false,
                depth,
                remove,
                counts: [0; 6],
                offsets: Vec::new(),
            });
        }
        for s in sessions.iter_mut() {
            let d = s.depth;
            s.counts = [
                (1 + poisson(&mut rng, 0.4)).min(5) as u8,
                if d >= 2 {
                    (1 + poisson(&mut rng, 0.8)).min(8) as u8
                } else {
                    0
                },
                (d >= 3) as u8 + s.extra as u8,
                s.extra as u8 + s.remove as u8,
                (d >= 4) as u8,
                (d >= 5) as u8,
            ];
            // event gaps: 1 s + Exp(mean 45 s), at most 240 s; a converting session ends at its order
            let m: usize = s.counts.iter().map(|&c| c as usize).sum();
            s.offsets.clear();
            let mut off = 0i64;
            for j in 0..m {
                if j > 0 {
                    let gap = (1.0 + Distribution::<f64>::sample(&exp45, &mut rng)).min(240.0);
                    off += (gap * US_PER_SEC as f64) as i64;
                }
                s.offsets.push(off);
            }
            if s.conv {
                s.start -= off;
            }
        }
        let mut order_idx: Vec<usize> = (0..sessions.len()).collect();
        order_idx.sort_by_key(|&i| (sessions[i].start, i));
        for (s_idx, &si) in order_idx.iter().enumerate() {
            let s = &sessions[si];
            let mut j = 0;
            let mut extra_product: (i32, f64) = (-1, f64::NAN);
            for ty in 0..6u8 {
                for rank in 0..s.counts[ty as usize] {
                    let (product, price, order) = match ty {
                        EV_PV => (-1, f64::NAN, -1),
                        EV_PROD if rank + 1 == s.counts[1] => (s.main as i32, s.main_price, -1),
                        EV_PROD => {
                            let c = pick(&cum_cat, rng.random()) as u8;
                            let pid = catalog.pick(&mut rng, c);
                            (pid as i32, catalog.price[pid as usize], -1)
                        }
                        EV_ADD if s.extra && rank == 0 => {
                            let c = pick(&cum_cat, rng.random()) as u8;
                            let pid = catalog.pick(&mut rng, c);
                            extra_product = (pid as i32, catalog.price[pid as usize]);
                            (extra_product.0, extra_product.1, -1)
                        }
                        EV_ADD => (s.main as i32, s.main_price, -1),
                        EV_REM if s.conv => (extra_product.0, extra_product.1, -1),
                        EV_REM => (s.main as i32, s.main_price, -1),
                        EV_CHK => (
                            -1,
                            if s.conv {
                                orders[s.order as usize].amount
                            } else {
                                s.main_price
                            },
                            -1,
                        ),
                        _ => {
                            debug_assert_eq!(ty, EV_PUR);
                            (s.main as i32, orders[s.order as usize].amount, s.order)
                        }
                    };
                    out.e_num.push(cnum);
                    out.e_session.push(s_idx as u32);
                    out.e_ts.push(s.start + s.offsets[j]);
                    out.e_type.push(ty);
                    out.e_product.push(product);
                    out.e_price.push(price);
                    out.e_combo.push(s.combo);
                    out.e_order.push(order);
                    j += 1;
                }
            }
        }

        // ---- customer and ground-truth rows
        out.c_num.push(cnum);
        out.c_signup_day
            .push((w.start_day + signup_day as i64) as i32);
        out.c_age.push(age);
        out.c_income.push(income);
        out.c_credit.push(credit);
        out.c_premium.push(premium);
        out.c_loyalty.push(loyalty);
        out.c_tickets.push(tickets);
        out.c_region.push(region);
        out.c_tier.push(tier);
        out.c_group.push(group);
        out.c_success.push(success);
        out.g_lambda.push(lam);
        out.g_dropout_p.push(pdrop);
        out.g_alive.push(alive);
        out.g_dropout_at.push(dropout_at);
        out.g_n_orders.push(orders.len() as i64);
        out.g_nu.push(nu);
        out.g_eov.push(mult * p.gg_p / nu);
        out.g_seg_a.push(seg_a);
        out.g_seg_b.push(seg_b);
        out.g_p_success.push(p_success);
    }
    out
}
