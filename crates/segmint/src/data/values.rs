//! Values of customer columns as analyses see them: one value ([`ValueRef`]) or all customers'
//! values of a column ([`Column`]). Rule conditions evaluate on them
//! ([`crate::segment::rules::Cond`]), and customer attributes produce them.

use std::borrow::Cow;

/// A borrowed value, as conditions see it during evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// A number.
    Num(f64),
    /// Text.
    Str(&'a str),
    /// A boolean.
    Bool(bool),
    /// No value.
    Null,
}

/// All customers' values of one variable, for [`crate::segment::rules::Cond::eval_columns`].
#[derive(Debug, Clone)]
pub enum Column<'a> {
    /// Numbers; `NaN` is a missing value.
    Num(Cow<'a, [f64]>),
    /// Codes into a dictionary of strings.
    Str(Cow<'a, [Option<u32>]>, &'a [String]),
    /// Booleans.
    Bool(Cow<'a, [Option<bool>]>),
    /// Missing for everyone.
    Null,
}
