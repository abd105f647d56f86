//! Service kinds other than plugins (core and remote), argument handling shared by all
//! services, well-known names, and the start-up assembly of the registry.

pub mod args;
#[cfg(test)]
mod args_props;
pub mod assemble;
pub mod core;
pub mod names;
pub mod remote;
pub mod seed_compat;
pub mod tasks;
pub mod views;
