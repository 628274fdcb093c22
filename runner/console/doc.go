// Package console judges a Linux boot from its serial console.
//
// An Analyzer is an io.Writer: the runner copies the console into it as
// the bytes arrive, in chunks of any size, and it reports what it sees as
// events, in console order: milestones of the boot, crash reports (kernel,
// firmware and QEMU errors), test results (LAVA signals and KTAP) and the
// kernel version. Summary gathers them all and gives the verdict.
//
// The analyser is built for throughput: most console lines are rejected
// by a look at their first byte or two, before any regular expression,
// and it allocates nothing for them. Its memory is bounded whatever the
// input: lines, reports, test and crash lists all have caps, and
// Summary.Truncated says when one was reached.
//
// An Analyzer is not safe for concurrent use.
package console
