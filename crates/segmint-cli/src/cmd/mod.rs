pub mod demo;
pub mod mart;
pub mod run;
pub mod validate;
