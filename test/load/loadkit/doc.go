// Package loadkit holds what wif's load tools (test/load, test/load/kvload
// and test/load/whload) share: reading a process's CPU time and memory and
// a core's busy time from /proc, pinning with taskset, starting and
// stopping child processes (wif serve among them), HTTPS clients that trust
// one CA, and the closed-loop and open-loop drivers that time a phase and
// summarise it (rates, CPU shares, latency percentiles).
//
// It is Linux-only (/proc, taskset), like the benchmarks that use it.
package loadkit
