// Package benchmarks compares opskit with the libraries services use today,
// side by side in one run. Each comparison is one benchmark function with a
// sub-benchmark per implementation, Benchmark<Thing>/opskit and
// Benchmark<Thing>/<peer>, so `make bench` can print each peer's ratio to
// opskit in RESULTS.md.
package benchmarks
