//! End-to-end tests of the `hubops` command line: the binary is run as an
//! operator would run it, in a scratch folder, with its journal and state
//! kept inside that folder. Exact error texts are asserted on purpose: they
//! are the interface a person reads at 6 a.m.

// Tests start the binary under test (and `kill` for Ctrl-C); the effects
// gate's rule is about hubops itself.
#![allow(clippy::disallowed_methods)]

mod argocd;
mod authoring;
mod aws;
mod aws_profiles;
mod cae;
mod cae_live;
mod cae_volumes;
mod capture;
mod cli;
mod core;
mod crash_resume;
mod dns;
mod faults;
mod fidelity;
mod gate;
mod gate_rules;
mod helm;
mod helm_cluster;
mod homes;
mod http;
mod http_pinned;
mod hub_db;
mod hub_move;
mod k8s;
mod k8s_live;
mod k8s_pods;
mod leases;
mod moto;
mod nublado;
mod nublado_live;
mod rehearsal;
mod route53_compare;
mod safety;
mod shell;
use hubops_tests::sshd;
mod support;
mod web;
mod yaml;
