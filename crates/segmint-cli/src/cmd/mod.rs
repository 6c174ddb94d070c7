pub mod clv;
pub mod demo;
pub mod mart;
pub mod migrate;
pub mod profile;
pub mod rfm;
pub mod run;
pub mod validate;
