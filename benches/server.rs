//! Server side: no layer, `ValidateTokenLayer` (accept and reject, 1 and 4 credentials, static
//! and live), and tower-http validators: `has_header_value`, and a `custom` closure with a plain
//! `==` and an `Arc<str>` extension.
//!
//! `cargo bench --bench server` ends with the overhead tables: criterion's medians, then the
//! rotated-rounds table README.md quotes.

mod support;

use std::time::SystemTime;

use criterion::Criterion;

fn main() {
    let started = SystemTime::now();
    let mut criterion = Criterion::default().configure_from_args();
    let variants = support::server_variants();

    support::bench_group(&mut criterion, "server", &variants);

    criterion.final_summary();
    if !support::listing_only() {
        support::print_round_table("server", &variants, &["custom_eq_1_accept", "custom_eq_4_accept"]);
    }
    let ids: Vec<&str> = variants.iter().map(|variant| variant.id).collect();
    support::print_overhead_table("server", &ids, &["custom_eq_1_accept", "custom_eq_4_accept"], started);
}
