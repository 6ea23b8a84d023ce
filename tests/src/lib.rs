//! Test builder
