pub mod demo;
pub mod mart;
pub mod rfm;
pub mod run;
pub mod validate;
